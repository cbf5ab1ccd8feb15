from kdbound.cli.main import run

run()
