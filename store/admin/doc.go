// Package admin is the control socket of a running johnlocke: an HTTP API
// with JSON bodies on a Unix socket beside the database (mode 0600), so that
// `import`, `stats` and `purge` reach the live store while `serve` holds the
// file's exclusive lock.
//
// The server side (Listen) exposes the operations store.Store already has —
// Register, Torrent, Torrents, Purge — and a status document naming the
// process. The client side (Dial) gives the subcommands the same values
// (store.Torrent, store.RegisterResult, store.PurgeReport) the file-based
// path gives them, so one formatter serves both. OpenRegistry picks the
// path for a subcommand: the server on the socket when one serves the
// database, the file otherwise, behind one Registry interface whose errors
// say whether the database was at fault.
//
// The package owns the socket's life: detecting a stale socket left by a
// crash and replacing it, refusing to start beside a live server, and the
// limits that keep a local client's garbage from hurting the tracker. It
// never reads paths a client names: .torrent files are parsed by the client.
// It knows no command-line flags and no exit codes: callers pass paths and
// map a RegistryError to their own codes.
package admin
