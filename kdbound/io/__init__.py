"""File input and output: batch tables (:mod:`.tables`, the only place pyarrow is
imported), numeric arrays (:mod:`.arrays`) and atomic output files (:mod:`.atomic`).

Messages name the option a file came from; user files are never unpickled.
"""
