"""The web initializr behind `gostarter serve`: the template's questions as a page and an API.

app.py builds the application (its routes list is the API's table of
contents), state.py is its one typed state, views.py holds the thin handlers,
request_answers.py reads the answers a request gives, prepare.py readies the template
once at start-up, fields.py turns copier.yml's questions into form fields,
jobs.py renders off the event loop,
renders.py queues and shares those renders across the worker pool, connections.py caps
connections and their read deadlines, archive.py packs deterministic archives,
describe.py writes the curl help and the OpenAPI document, verify_stream.py
streams a verification that verify_process.py runs, command.py is the
`serve` command and server.py runs it under uvicorn. Templates and static files live inside the package.
"""
