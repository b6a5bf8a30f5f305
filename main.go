// Command johnlocke is a BitTorrent tracker daemon whose modes shape each
// swarm and whose swarms survive a restart.
//
// main is the composition root: it parses flags into config structs, builds
// the pieces, handles signals and owns every exit code. Tracker logic lives
// in announce/, modes/, store/ and migrate/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.etcd.io/bbolt"

	"johnlocke/announce"
	"johnlocke/announce/loadgen"
	"johnlocke/announce/udp"
	"johnlocke/migrate"
	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/admin"
	"johnlocke/store/daemon"
	"johnlocke/store/metainfo"
	"johnlocke/store/report"
)

// Exit codes scripts and cron jobs can rely on.
const (
	exitOK       = 0
	exitFailed   = 1 // the command ran and something failed (a file, a listener)
	exitUsage    = 2 // a bad flag or argument
	exitDatabase = 3 // the database is missing, locked, corrupt, or from a newer johnlocke
)

// version names a release build: go build -ldflags "-X main.version=v1.2.3".
var version string

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) ExitCode() int { return e.code }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// dbError marks a failure to open or read the database.
func dbError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitDatabase, err: err}
}

func main() {
	// No heap profile is ever taken: sampling would only spend memory (the
	// runtime's table of sampled call stacks) on a long-running server.
	runtime.MemProfileRate = 0
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without the exit, so tests can drive the command line.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(flagsFirst(app, args))
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "johnlocke: %v\n", err)
	return exitCode(err)
}

// exitCode is the exit code a command's error calls for.
func exitCode(err error) int {
	var coded interface{ ExitCode() int } // an *exitError or a *daemon.ExitError
	var reg *admin.RegistryError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &coded):
		return coded.ExitCode()
	case errors.As(err, &reg) && reg.Database:
		return exitDatabase
	case errors.As(err, &reg):
		return exitFailed
	case errors.Is(err, migrate.ErrLocked), errors.Is(err, migrate.ErrCorrupt),
		errors.Is(err, migrate.ErrTooNew), errors.Is(err, migrate.ErrNotJohnlocke),
		errors.Is(err, migrate.ErrNeedsMigration), errors.Is(err, os.ErrNotExist):
		return exitDatabase
	default:
		// urfave/cli reports unknown flags and bad values as plain errors.
		return exitUsage
	}
}

// flagsFirst moves a subcommand's flags ahead of its arguments, because
// urfave/cli v2 stops reading flags at the first argument and operators
// write `johnlocke stats HASH --json` as readily as the other way round.
// Everything after "--" stays as it is.
func flagsFirst(app *cli.App, args []string) []string {
	sub := -1
	for i := 1; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			sub = i
			break
		}
		if takesValue(app.Flags, args[i]) {
			i++
		}
	}
	if sub < 0 {
		return args
	}
	cmd := app.Command(args[sub])
	if cmd == nil {
		return args
	}
	out := append([]string{}, args[:sub+1]...)
	var positional []string
	rest := args[sub+1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			out = append(out, a)
			if takesValue(cmd.Flags, a) && i+1 < len(rest) {
				out = append(out, rest[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(out, positional...)
}

// takesValue reports whether arg is a flag of fs given without "=value"
// that takes its value from the next argument.
func takesValue(fs []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range fs {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			_, isBool := f.(*cli.BoolFlag)
			return !isBool
		}
	}
	return false
}

// globalFlags are accepted before and after the subcommand.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "db",
			Usage:   "the database file",
			EnvVars: []string{"JOHNLOCKE_DB"},
			Value:   "johnlocke.db",
		},
		&cli.BoolFlag{
			Name:    "verbose",
			Aliases: []string{"v"},
			Usage:   "log runtime detail",
		},
		&cli.StringFlag{
			Name:  "admin",
			Usage: "the admin socket of `serve` (default: the database path with .sock appended)",
		},
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	withGlobals := func(fs ...cli.Flag) []cli.Flag { return append(globalFlags(), fs...) }
	return &cli.App{
		Name:                 "johnlocke",
		Usage:                "a BitTorrent tracker daemon that shapes each swarm",
		Flags:                globalFlags(),
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		// Errors are printed once, by run.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			{
				Name:      "serve",
				Usage:     "run the tracker",
				Flags:     withGlobals(serveFlags()...),
				Action:    func(c *cli.Context) error { return serve(c, stdout) },
				ArgsUsage: " ",
			},
			{
				Name:      "import",
				Usage:     "register .torrent files (files or folders), or bare infohashes with --hashes",
				ArgsUsage: "PATH...",
				Flags: withGlobals(&cli.StringFlag{
					Name:  "mode",
					Usage: "mode for these torrents: small, large or surge (default: follow serve --mode)",
				}, &cli.StringSliceFlag{
					Name:  "hashes",
					Usage: "register the infohashes in this file, one a line (an opentracker whitelist); repeatable",
				}),
				Action: func(c *cli.Context) error { return importCmd(c, stdout) },
			},
			{
				Name:      "stats",
				Usage:     "show one torrent's figures, or a summary of all",
				ArgsUsage: "[INFOHASH]",
				Flags: withGlobals(&cli.BoolFlag{
					Name:  "json",
					Usage: "print JSON for scripts",
				}),
				Action: func(c *cli.Context) error { return statsCmd(c, stdout) },
			},
			{
				Name:  "purge",
				Usage: "remove expired peers, and torrents inactive longer than --older-than",
				Flags: withGlobals(
					&cli.StringFlag{
						Name:  "older-than",
						Usage: "remove torrents neither announced nor added for this long (e.g. 90d, 720h); unset keeps all torrents",
					},
					&cli.BoolFlag{Name: "dry-run", Usage: "say what would be removed, change nothing"},
				),
				Action: func(c *cli.Context) error { return purgeCmd(c, stdout) },
			},
			{
				Name:   "migrate",
				Usage:  "bring the database's schema up to date",
				Flags:  withGlobals(&cli.BoolFlag{Name: "dry-run", Usage: "list the pending steps, change nothing"}),
				Action: func(c *cli.Context) error { return migrateCmd(c, stdout) },
			},
			{
				Name:   "loadtest",
				Usage:  "generate announce load against a tracker (this one or another) and report its speed",
				Flags:  loadtestFlags(),
				Action: func(c *cli.Context) error { return loadtestCmd(c, stdout) },
			},
		},
	}
}

func loadtestFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:6969", Usage: "tracker host:port"},
		&cli.StringFlag{Name: "protocol", Value: "udp", Usage: "http or udp"},
		&cli.StringFlag{Name: "path", Value: "/announce", Usage: "HTTP announce path"},
		&cli.IntFlag{Name: "concurrency", Value: 16, Usage: "parallel workers (HTTP connections or UDP sockets)"},
		&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "how long to run"},
		&cli.Int64Flag{Name: "requests", Usage: "stop after this many announces (0: run for --duration)"},
		&cli.IntFlag{Name: "torrents", Value: 1000, Usage: "distinct infohashes to announce"},
		&cli.IntFlag{Name: "peers", Value: 10000, Usage: "distinct simulated peers"},
		&cli.StringFlag{Name: "infohashes", Usage: "file of infohashes (40 hex a line) to announce instead of generated ones"},
		&cli.IntFlag{Name: "numwant", Value: 50, Usage: "numwant sent with every announce"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the workload"},
		&cli.IntFlag{Name: "rate", Usage: "target announces per second overall (0: as fast as answered)"},
		&cli.BoolFlag{Name: "no-keepalive", Usage: "HTTP: one connection per announce"},
	}
}

// loadtestCmd runs the load generator and prints its report, ending with
// one machine-readable line.
func loadtestCmd(c *cli.Context, stdout io.Writer) error {
	if c.NArg() > 0 {
		return usageError("loadtest takes no arguments")
	}
	cfg := loadgen.Config{
		Addr:        c.String("addr"),
		Protocol:    c.String("protocol"),
		Path:        c.String("path"),
		Concurrency: c.Int("concurrency"),
		Duration:    c.Duration("duration"),
		Requests:    c.Int64("requests"),
		Torrents:    c.Int("torrents"),
		Peers:       c.Int("peers"),
		NumWant:     c.Int("numwant"),
		Seed:        c.Uint64("seed"),
		Rate:        c.Int("rate"),
		NoKeepAlive: c.Bool("no-keepalive"),
	}
	if path := c.String("infohashes"); path != "" {
		hashes, err := loadgen.LoadInfoHashes(path)
		if err != nil {
			return usageError("--infohashes: %v", err)
		}
		cfg.InfoHashes = hashes
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	fmt.Fprint(stdout, rep.String())
	fmt.Fprintln(stdout, rep.Line())
	return nil
}

// globalString returns a flag defined both globally and on a subcommand:
// the value given explicitly nearest the subcommand wins, then the
// environment or default.
func globalString(c *cli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if ctx.Command == nil && ctx.App == nil {
			continue
		}
		if ctx.IsSet(name) {
			return ctx.String(name)
		}
	}
	return c.String(name)
}

func globalBool(c *cli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if ctx.Bool(name) {
			return true
		}
	}
	return false
}

// parseAge reads a duration, also accepting whole days ("90d").
func parseAge(s string) (time.Duration, error) {
	var days int
	if n, err := fmt.Sscanf(s, "%dd", &days); err == nil && n == 1 && fmt.Sprintf("%dd", days) == s {
		if days < 0 {
			return 0, fmt.Errorf("negative age %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("age %q: want a duration such as 90d or 36h", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative age %q", s)
	}
	return d, nil
}

func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "http", Value: ":6969", Usage: "HTTP listen address for announce and scrape (empty: no HTTP)"},
		&cli.StringFlag{Name: "udp", Value: ":6969", Usage: "UDP listen address for BEP 15 announce and scrape (empty: no UDP)"},
		&cli.IntFlag{Name: "udp-sockets", DefaultText: "GOMAXPROCS, the CPUs the process may use", Usage: "UDP sockets sharing --udp's port (SO_REUSEPORT), each with its own reader"},
		&cli.StringFlag{Name: "mode", Value: "large", Usage: "swarm mode for torrents without their own: small, large or surge"},
		&cli.StringFlag{Name: "dir", Usage: "register every .torrent file under this directory at start"},
		&cli.BoolFlag{Name: "scan", Usage: "rescan --dir periodically and on SIGHUP (default: on when --dir exists)"},
		&cli.DurationFlag{Name: "scan-interval", Value: time.Minute, Usage: "how often --scan rescans --dir"},
		&cli.BoolFlag{Name: "locked", Value: true, Usage: "refuse announces for unregistered torrents; --locked=false registers them on first announce"},
		&cli.IntFlag{Name: "maxpeers", Value: 50, Usage: "largest peer list ever returned"},
		&cli.IntFlag{Name: "max-torrents", Value: store.DefaultMaxTorrents, Usage: "most torrents organic registration (--locked=false) may reach"},
		&cli.IntFlag{Name: "max-peers-total", Value: store.DefaultMaxPeersTotal, Usage: "peer budget: past it new peers get lists but are not stored"},
		&cli.DurationFlag{Name: "interval", Usage: "announce interval for every mode (default: the mode's own)"},
		&cli.DurationFlag{Name: "min-interval", Usage: "min interval for every mode (default: the mode's own)"},
		&cli.DurationFlag{Name: "flush-interval", Value: store.DefaultFlushInterval, Usage: "how often changed state is written to the database"},
		&cli.IntFlag{Name: "gc-percent", Value: daemon.DefaultGCPercent, Usage: "let the heap grow this many percent past its live data before collecting (GOGC; default: GOGC when set, else 20); a negative value turns collection off"},
		&cli.StringSliceFlag{Name: "trusted-proxy", Usage: "address or CIDR of a reverse proxy whose X-Forwarded-For / X-Real-IP is believed (repeatable)"},
		&cli.BoolFlag{Name: "daemon", Usage: "detach and run in the background, writing --pidfile"},
		&cli.StringFlag{Name: "pidfile", Value: daemon.DefaultPidFile, Usage: "where --daemon writes its pid (written without --daemon too when given)"},
		&cli.StringFlag{Name: "log-file", Usage: "log to this file instead of stdout; SIGHUP reopens it"},
	}
}

// serve runs the tracker until SIGINT or SIGTERM.
func serve(c *cli.Context, stdout io.Writer) (err error) {
	if c.NArg() > 0 {
		return usageError("serve takes no arguments, got %q", c.Args().First())
	}
	mode, err := modes.Parse(c.String("mode"))
	if err != nil || mode == modes.Default {
		return usageError("--mode: want small, large or surge, got %q", c.String("mode"))
	}
	if c.Int("maxpeers") < 1 {
		return usageError("--maxpeers must be at least 1")
	}
	if c.IsSet("gc-percent") || os.Getenv("GOGC") == "" {
		debug.SetGCPercent(c.Int("gc-percent"))
	}
	var proxies []netip.Prefix
	for _, p := range c.StringSlice("trusted-proxy") {
		prefix, err := parsePrefix(p)
		if err != nil {
			return usageError("--trusted-proxy: %v", err)
		}
		proxies = append(proxies, prefix)
	}
	if c.IsSet("udp-sockets") && c.Int("udp-sockets") < 1 {
		return usageError("--udp-sockets must be at least 1")
	}
	dir := c.String("dir")
	scan := false
	if dir != "" {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			return usageError("--dir %s: not a directory", dir)
		}
		scan = true
	}
	if c.IsSet("scan") {
		scan = c.Bool("scan")
		if scan && dir == "" {
			return usageError("--scan needs --dir")
		}
	}

	// Abort is a second SIGINT or SIGTERM: exit at once, without the final flush.
	o := daemon.Options{Args: os.Args[1:], LogFile: c.String("log-file"), Verbose: globalBool(c, "verbose"),
		Abort: func() { os.Exit(exitFailed) }}
	if c.Bool("daemon") && !daemon.IsChild() {
		return daemon.Background(o, stdout)
	}
	if c.Bool("daemon") || c.IsSet("pidfile") {
		o.PidFile = c.String("pidfile")
	}
	started := time.Now()
	lc := daemon.NewLifecycle()
	// Runs last: reports a failure to a waiting --daemon parent, removes
	// the pid file and gives the signals back.
	defer func() { lc.Finish(err, exitCode(err)) }()
	if err := lc.Start(o, stdout); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	log := lc.Log()
	ctx, stopServing := context.WithCancel(lc.Context())
	defer stopServing()

	// Ask the admin socket before opening the database, so that a second
	// serve names the running one instead of timing out on the file lock.
	sock := admin.SocketPath(globalString(c, "db"), globalString(c, "admin"))
	if status, state, err := admin.Probe(sock); err != nil {
		return &exitError{code: exitFailed, err: err}
	} else if state == admin.Live {
		return dbError(&admin.RunningError{Socket: sock, Status: status})
	}

	st, err := store.Open(globalString(c, "db"), store.Config{
		Mode:          mode,
		Locked:        c.Bool("locked"),
		MaxTorrents:   c.Int("max-torrents"),
		MaxPeersTotal: c.Int("max-peers-total"),
		MaxPeers:      c.Int("maxpeers"),
		Interval:      c.Duration("interval"),
		MinInterval:   c.Duration("min-interval"),
		FlushInterval: c.Duration("flush-interval"),
		Log:           log,
	})
	if err != nil {
		return dbError(err)
	}
	serving := false
	if st.DB().Created() {
		log.Info().Str("db", globalString(c, "db")).Msg("created new database")
		// Runs after the store closes: a serve that never got to serve
		// (a listener that would not open, say) leaves no new, empty
		// database behind for a typo in --db to hide in.
		defer func() {
			if !serving {
				_ = os.Remove(globalString(c, "db"))
			}
		}()
	}
	storeDone := make(chan error, 1)
	storeCtx, stopStore := context.WithCancel(context.Background())
	go func() { storeDone <- st.Run(storeCtx) }()
	go daemon.ReturnMemory(ctx, time.Second)
	// Whatever happens below, the store flushes and closes last.
	defer func() {
		stopStore()
		if err := <-storeDone; err != nil {
			log.Error().Err(err).Msg("final flush failed")
		}
		if err := st.Close(); err != nil {
			log.Error().Err(err).Msg("closing the database")
		}
	}()

	adm, err := admin.Listen(st, admin.Config{
		Path: sock, DB: absPath(globalString(c, "db")), Version: daemon.Version(version), Started: started, Log: log,
	})
	var running *admin.RunningError
	switch {
	case errors.As(err, &running):
		return dbError(err)
	case err != nil:
		return &exitError{code: exitFailed, err: err}
	}
	lc.RemoveOnAbort(sock)
	if adm.ReplacedStale() {
		log.Warn().Str("admin", sock).Msg("replaced a stale admin socket (the last server did not stop cleanly)")
	}
	// Runs before the store closes: no admin request touches a closed store.
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := adm.Shutdown(shutdownCtx); err != nil {
			log.Warn().Err(err).Msg("admin socket shutdown")
		}
	}()

	if dir != "" {
		res, err := st.ScanDir(dir)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		log.Info().Str("dir", dir).Int("found", res.Found).Int("added", res.Added).Int("failed", res.Failed).Msg("loaded torrent directory")
		// SIGHUP rescans --dir; --scan adds a periodic rescan.
		var every time.Duration
		if scan {
			every = c.Duration("scan-interval")
		}
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			st.WatchDir(ctx.Done(), dir, every, lc.Rescan())
		}()
		// Runs before the store closes.
		defer func() {
			stopServing()
			<-watching
		}()
	}

	httpAddr, udpAddr := c.String("http"), c.String("udp")
	if httpAddr == "" && udpAddr == "" {
		return usageError("--http and --udp are both empty: nothing to serve")
	}
	// One reader per socket; the kernel spreads clients over the sockets
	// by address, so each CPU can answer its share.
	udpSockets := runtime.GOMAXPROCS(0)
	if !udp.CanReusePort() {
		udpSockets = 1
	}
	if c.IsSet("udp-sockets") {
		udpSockets = c.Int("udp-sockets")
	}
	serveErr := make(chan error, 1+udpSockets)
	var (
		httpSrv             *announce.HTTPServer
		udpSrv              *udp.Server
		httpBound, udpBound string
	)
	if httpAddr != "" {
		ln, err := net.Listen("tcp", httpAddr)
		if err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("listen on %s: %w", httpAddr, err)}
		}
		httpSrv = announce.NewHTTPServer(st, announce.HTTPConfig{
			MaxPeers:       c.Int("maxpeers"),
			TrustedProxies: proxies,
		}, log)
		httpBound = ln.Addr().String()
		go func() { serveErr <- labelled("http", httpSrv.Serve(ctx, ln)) }()
	}
	if udpAddr != "" {
		// The key lives in the database so connection ids that clients
		// hold stay valid across a restart.
		key, err := st.DB().Secret("udp-connection-id", 32)
		if err != nil {
			return dbError(err)
		}
		conns, err := udp.ListenReusePort(ctx, "udp", udpAddr, udpSockets)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		udpSrv = udp.NewServer(st, udp.Config{Key: key, MaxPeers: c.Int("maxpeers")}, log)
		udpBound = conns[0].LocalAddr().String()
		for _, conn := range conns {
			go func() { serveErr <- labelled("udp", udpSrv.Serve(ctx, conn)) }()
		}
	}
	torrents, peers := st.Counts()
	log.Info().Str("http", httpBound).Str("udp", udpBound).Str("mode", mode.String()).Bool("locked", c.Bool("locked")).
		Int64("torrents", torrents).Int64("peers", peers).Str("admin", sock).Int("pid", os.Getpid()).
		Msg("johnlocke is serving")
	lc.Serving(httpBound, udpBound)
	serving = true

	select {
	case err := <-serveErr:
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if httpSrv != nil {
		if err := httpSrv.Shutdown(shutdownCtx); err != nil {
			log.Warn().Err(err).Msg("http shutdown")
		}
	}
	if udpSrv != nil {
		if err := udpSrv.Shutdown(shutdownCtx); err != nil {
			log.Warn().Err(err).Msg("udp shutdown")
		}
	}
	return nil
}

// labelled names the listener an error came from; nil stays nil.
func labelled(listener string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", listener, err)
}

// parsePrefix accepts an address or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// importCmd registers .torrent files and folders, reporting each file.
func importCmd(c *cli.Context, stdout io.Writer) error {
	if c.NArg() == 0 && len(c.StringSlice("hashes")) == 0 {
		return usageError("import needs at least one .torrent file or folder, or --hashes FILE")
	}
	mode, err := modes.Parse(c.String("mode"))
	if err != nil {
		return usageError("--mode: %v", err)
	}
	var (
		ts      []store.Torrent
		failed  int
		missing []string
	)
	for _, root := range c.Args().Slice() {
		err := metainfo.Walk(root, func(path string, m *metainfo.Torrent, err error) {
			if err != nil {
				failed++
				fmt.Fprintf(stdout, "failed   %v\n", err)
				return
			}
			ts = append(ts, store.FromMetainfo(m, mode, store.SourceImport, absPath(path)))
		})
		if err != nil {
			missing = append(missing, root)
			failed++
			fmt.Fprintf(stdout, "failed   %v\n", err)
		}
	}
	for _, list := range c.StringSlice("hashes") {
		ts, failed = importHashes(stdout, list, mode, ts, failed)
	}
	if len(ts) > 0 {
		db := globalString(c, "db")
		reg, err := admin.OpenRegistry(db, globalString(c, "admin"), store.OpenOptions{Create: true})
		if err != nil {
			return err
		}
		if reg.Info().Created {
			fmt.Fprintf(stdout, "created new database %s\n", db)
		}
		results, err := reg.Register(ts)
		if cerr := reg.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		report.Import(stdout, ts, results, failed)
	} else {
		report.Import(stdout, nil, nil, failed)
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d file(s) or line(s) could not be imported", failed)}
	}
	return nil
}

// importHashes adds the infohashes listed in the file at path to ts, one
// torrent each (name and size unknown), reporting each line that is not an
// infohash, and a file that cannot be read, as a failure.
func importHashes(stdout io.Writer, path string, mode modes.Mode, ts []store.Torrent, failed int) ([]store.Torrent, int) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stdout, "failed   %v\n", err)
		return ts, failed + 1
	}
	defer f.Close()
	origin := absPath(path)
	err = store.ReadHashList(f, func(line int, hash [20]byte, err error) {
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "failed   %s:%d: %v\n", path, line, err)
			return
		}
		ts = append(ts, store.Torrent{InfoHash: hash, Mode: mode, Source: store.SourceImport,
			Origin: fmt.Sprintf("%s:%d", origin, line)})
	})
	if err != nil {
		failed++
		fmt.Fprintf(stdout, "failed   %s: %v\n", path, err)
	}
	return ts, failed
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// statsCmd prints one torrent's figures or a summary of all.
func statsCmd(c *cli.Context, stdout io.Writer) error {
	if c.NArg() > 1 {
		return usageError("stats takes at most one infohash")
	}
	var (
		hash    [20]byte
		oneHash = c.NArg() == 1
	)
	if oneHash {
		var err error
		if hash, err = store.ParseInfoHash(c.Args().First()); err != nil {
			return usageError("%v", err)
		}
	}
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), store.OpenOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer reg.Close()
	now := time.Now()
	asJSON := c.Bool("json")
	info := reg.Info()
	view := report.View{Live: info.Live, ServeMode: info.ServeMode, ServeModeKnown: info.ServeModeKnown}
	if oneHash {
		t, ok, err := reg.Torrent(hash)
		if err != nil {
			return err
		}
		if !ok {
			return &exitError{code: exitFailed, err: fmt.Errorf("torrent %x is not registered", hash)}
		}
		return report.Torrent(stdout, &t, now, view, asJSON)
	}
	sum := report.Summary{View: view}
	if err := reg.Torrents(func(t *store.Torrent) error {
		sum.Add(t)
		return nil
	}); err != nil {
		return err
	}
	return sum.Write(stdout, asJSON)
}

// purgeCmd removes expired peers and, with --older-than, stale torrents.
// It is quiet on success so cron mails only failures.
func purgeCmd(c *cli.Context, stdout io.Writer) error {
	if c.NArg() > 0 {
		return usageError("purge takes no arguments")
	}
	// Now and PeerTimeout are left to the registry: a running server uses
	// its own clock and timing.
	o := store.PurgeOptions{DryRun: c.Bool("dry-run")}
	if s := c.String("older-than"); s != "" {
		age, err := parseAge(s)
		if err != nil {
			return usageError("--older-than: %v", err)
		}
		o.OlderThan = age
	}
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), store.OpenOptions{ReadOnly: o.DryRun})
	if err != nil {
		return err
	}
	rep, err := reg.Purge(o)
	if cerr := reg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if o.DryRun || globalBool(c, "verbose") {
		report.Purge(stdout, &rep, o.DryRun)
	}
	return nil
}

// migrateCmd lists or applies pending schema steps.
func migrateCmd(c *cli.Context, stdout io.Writer) error {
	path := globalString(c, "db")
	dry := c.Bool("dry-run")
	sock := admin.SocketPath(path, globalString(c, "admin"))
	cl, err := admin.DialServer(path, sock)
	if err != nil {
		return err
	}
	if cl != nil {
		st := cl.Status()
		cl.Close()
		if dry && st.Schema == migrate.Current {
			fmt.Fprintf(stdout, "%s is served by johnlocke pid %d at schema %d: nothing to do\n", path, st.PID, st.Schema)
			return nil
		}
		return dbError(fmt.Errorf("%w: %s is served by johnlocke pid %d (admin socket %s), which brought it to schema %d when it started; stop it before running migrate",
			migrate.ErrLocked, path, st.PID, sock, st.Schema))
	}
	// Only serve and import create a database: migrate on a missing file
	// is a typo in --db.
	db, _, err := migrate.OpenWith(path, migrate.Options{ReadOnly: dry, Timeout: store.DefaultOpenTimeout})
	if err != nil && !(dry && errors.Is(err, migrate.ErrNeedsMigration)) {
		return dbError(err)
	}
	if db == nil {
		// An empty file opened read-only: everything is pending.
		for _, s := range migrate.Steps() {
			fmt.Fprintf(stdout, "pending: %d -> %d: %s\n", s.From, s.From+1, s.Description)
		}
		return nil
	}
	defer db.Close()
	var version int
	if err := db.View(func(tx *bbolt.Tx) error {
		version, err = migrate.Version(tx)
		return err
	}); err != nil {
		return dbError(err)
	}
	pending, err := migrate.Pending(version)
	if err != nil {
		return dbError(fmt.Errorf("%s: %w", path, err))
	}
	if dry {
		if len(pending) == 0 {
			fmt.Fprintf(stdout, "%s is at schema %d: nothing to do\n", path, version)
		}
		for _, s := range pending {
			fmt.Fprintf(stdout, "pending: %d -> %d: %s\n", s.From, s.From+1, s.Description)
		}
		return nil
	}
	applied, err := migrate.Up(db)
	for _, s := range applied {
		fmt.Fprintf(stdout, "applied: %d -> %d: %s\n", s.From, s.From+1, s.Description)
	}
	if err != nil {
		return dbError(err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "%s is at schema %d: nothing to do\n", path, migrate.Current)
	}
	return nil
}
