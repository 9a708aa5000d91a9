# Runs first on every start. Kept minimal: all logic is in main.py's app, so
# a broken module never stops the REPL from coming up.
import gc

gc.collect()
