// Package migrate owns the schema version stored in the meta bucket and the
// ordered, tested steps that upgrade an older file; it refuses a file written
// by a newer johnlocke; it knows nothing of torrents beyond creating buckets.
//
// Every subcommand opens the database through Open, which turns bbolt's
// errors into messages an operator can act on, and then either calls Check
// (serve, and anything else that needs a current file) or Up (migrate).
package migrate
