// Package admin is the control socket of a running johnlocke: an HTTP API
// with JSON bodies on a Unix socket beside the database (mode 0600), so that
// `import`, `stats` and `purge` reach the live store while `serve` holds the
// file's exclusive lock.
//
// The server side (Listen) exposes the operations store.Store already has —
// Register, Torrent, Torrents, Purge — and a status document naming the
// process. The client side (Dial) gives the subcommands the same values
// (store.Torrent, store.RegisterResult, store.PurgeReport) the file-based
// path gives them, so one formatter serves both.
//
// The package owns the socket's life: detecting a stale socket left by a
// crash and replacing it, refusing to start beside a live server, and the
// limits that keep a local client's garbage from hurting the tracker. It
// never reads paths a client names: .torrent files are parsed by the client.
package admin
