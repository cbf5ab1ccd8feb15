"""File input and output: batch tables (:mod:`.table_read`, :mod:`.table_write`, which import
pyarrow, and :mod:`.arrow`, the light module that checks pyarrow before they are imported),
numeric arrays (:mod:`.arrays`), atomic output files (:mod:`.atomic`) and a stdout that reports
its own failures (:mod:`.stdout`).

Messages name the option a file came from; user files are never unpickled.
"""
