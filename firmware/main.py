# Runs after boot.py on every start. Ctrl-C stops the gateway and leaves the REPL.
import app

app.main()
