// Command johnlocke is a BitTorrent tracker daemon whose modes shape each
// swarm and whose swarms survive a restart.
//
// main is the composition root: it parses flags into config structs, builds
// the pieces, handles signals and owns every exit code. Tracker logic lives
// in announce/, modes/, store/ and migrate/.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"go.etcd.io/bbolt"
	"gopkg.in/yaml.v3"

	"johnlocke/announce"
	"johnlocke/announce/limit"
	"johnlocke/announce/loadgen"
	"johnlocke/announce/simulate"
	"johnlocke/announce/status"
	"johnlocke/announce/udp"
	"johnlocke/migrate"
	"johnlocke/modes"
	"johnlocke/store"
	"johnlocke/store/admin"
	"johnlocke/store/cluster"
	"johnlocke/store/clusterview"
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
	// Asked first: the daemon child forgets it is one once it starts.
	child := daemon.IsChild()
	app := newApp(stdout, stderr)
	err := app.Run(flagsFirst(app, args))
	if err == nil {
		return exitOK
	}
	if child {
		// A daemon child's stderr is its --log-file (or nothing); its
		// parent prints the error for the operator.
		daemon.LogFailure(stderr, err)
	} else {
		fmt.Fprintf(stderr, "johnlocke: %v\n", err)
	}
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
			// Asked of the flag, not its type: serve's flags are altsrc's
			// wrappers (see withConfigFile).
			if df, ok := f.(cli.DocGenerationFlag); ok {
				return df.TakesValue()
			}
			return true
		}
	}
	return false
}

// globalFlags are accepted before and after the subcommand.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "db",
			Usage:   "the database file at `PATH`",
			EnvVars: []string{"JOHNLOCKE_DB"},
			Value:   "johnlocke.db",
		},
		&cli.BoolFlag{
			Name:    "verbose",
			Aliases: []string{"v"},
			Usage:   "log runtime detail",
		},
		&cli.StringFlag{
			Name:        "admin",
			Usage:       "the admin socket at `PATH` of a running serve",
			DefaultText: "the database path with .sock appended",
		},
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	withGlobals := func(fs ...cli.Flag) []cli.Flag { return append(globalFlags(), fs...) }
	serveFlags := serveCommandFlags()
	app := &cli.App{
		Name:  "johnlocke",
		Usage: "a BitTorrent tracker daemon that shapes each swarm",
		Flags: append(globalFlags(), &cli.BoolFlag{
			Name:  "version",
			Usage: "print the version, the source revision and the Go release of this build",
		}),
		Writer:    stdout,
		ErrWriter: stderr,
		// `help` is handled by appAction: urfave/cli's own help command
		// exits 3 ("No help topic"), the code kept for database problems.
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		// Errors are printed once, by run.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Action:         func(c *cli.Context) error { return appAction(c, stdout) },
		Commands: []*cli.Command{
			{
				Name:      "serve",
				Usage:     "run the tracker",
				Flags:     serveFlags,
				Before:    loadConfigFile(serveFlags),
				Action:    func(c *cli.Context) error { return serveCmd(c, stdout) },
				ArgsUsage: " ",
			},
			{
				Name:      "import",
				Usage:     "register .torrent files (files or folders), or bare infohashes with --hashes",
				ArgsUsage: "PATH...",
				Flags: withGlobals(&cli.StringFlag{
					Name:        "mode",
					Usage:       "`MODE` for these torrents: small, large or surge",
					DefaultText: "follow serve --mode",
				}, maxTorrentSizeFlag(), &cli.StringSliceFlag{
					Name:  "hashes",
					Usage: "register the infohashes in the file at `PATH`, one a line (an opentracker whitelist); repeatable",
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
				}, bannedFlag()),
				Action: func(c *cli.Context) error { return statsCmd(c, stdout) },
			},
			{
				Name:  "purge",
				Usage: "remove expired peers, and torrents inactive longer than --older-than",
				Flags: withGlobals(
					&cli.StringFlag{
						Name:  "older-than",
						Usage: "remove torrents neither announced nor added for this `AGE` (e.g. 90d, 720h); unset keeps all torrents",
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
			{
				Name:   "simulate",
				Usage:  "simulate swarms whose peer lists come from this tracker's real mode code, against a random tracker",
				Flags:  simulateFlags(),
				Action: func(c *cli.Context) error { return simulateCmd(c, stdout) },
			},
		},
	}
	app.Commands = append(app.Commands, banCommands(stdout)...)
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

// onUsageError makes a bad flag or flag value a usage error (exit 2),
// printed once by run with a pointer to --help, instead of urfave/cli's
// error followed by the whole help text.
func onUsageError(c *cli.Context, err error, _ bool) error {
	cmd := "johnlocke"
	if c.Command != nil && c.Command.Name != "" {
		cmd += " " + c.Command.Name
	}
	return usageError("%v (see %s --help)", err, cmd)
}

// appAction runs when no subcommand matched: --version, `help [COMMAND]`,
// the help for a bare `johnlocke`, or an unknown subcommand.
func appAction(c *cli.Context, stdout io.Writer) error {
	if c.Bool("version") {
		fmt.Fprintln(stdout, "johnlocke", daemon.Version(version), runtime.Version())
		return nil
	}
	args := c.Args()
	switch {
	case args.Len() == 0:
		return cli.ShowAppHelp(c)
	case args.First() == "help" && args.Len() == 1:
		return cli.ShowAppHelp(c)
	case args.First() == "help" && args.Len() == 2:
		if c.App.Command(args.Get(1)) == nil {
			return usageError("help: no subcommand %q (see johnlocke --help)", args.Get(1))
		}
		return cli.ShowCommandHelp(c, args.Get(1))
	case args.First() == "help":
		return usageError("help takes at most one subcommand")
	default:
		return usageError("no subcommand %q (see johnlocke --help)", args.First())
	}
}

func loadtestFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:6969", Usage: "tracker `HOST:PORT`"},
		&cli.StringFlag{Name: "protocol", Value: "udp", Usage: "`PROTOCOL`: http or udp"},
		&cli.StringFlag{Name: "path", Value: "/announce", Usage: "HTTP announce `PATH`"},
		&cli.IntFlag{Name: "concurrency", Value: 16, Usage: "`N` parallel workers (HTTP connections or UDP sockets)"},
		&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "`DURATION` to run for"},
		&cli.Int64Flag{Name: "requests", Usage: "stop after `N` announces (0: run for --duration)"},
		&cli.IntFlag{Name: "torrents", Value: 1000, Usage: "`N` distinct infohashes to announce"},
		&cli.IntFlag{Name: "peers", Value: 10000, Usage: "`N` distinct simulated peers"},
		&cli.StringFlag{Name: "infohashes", Usage: "`FILE` of infohashes (40 hex a line) to announce instead of generated ones"},
		&cli.IntFlag{Name: "numwant", Value: 50, Usage: "`N` sent as numwant with every announce"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "`SEED` of the workload"},
		&cli.IntFlag{Name: "rate", Usage: "target `RATE` of announces per second overall (0: as fast as answered)"},
		&cli.BoolFlag{Name: "no-keepalive", Usage: "HTTP: one connection per announce, each asking the tracker to close it (Connection: close, as libtorrent sends)"},
		&cli.BoolFlag{Name: "client-closes", Usage: "HTTP: one connection per announce, sent as keep-alive (as aria2 sends) and closed by the client after the answer"},
		&cli.BoolFlag{Name: "go-net", Usage: "HTTP, one connection per announce: a goroutine per worker through Go's net package, as before the epoll loop that drives them on Linux (for comparing load generators)"},
		&cli.StringFlag{Name: "source", Usage: "local `ADDR` every worker sends from (e.g. 127.0.0.2), instead of one loopback address per worker"},
	}
}

// loadtestCmd runs the load generator and prints its report, ending with
// one machine-readable line.
func loadtestCmd(c *cli.Context, stdout io.Writer) error {
	if c.NArg() > 0 {
		return usageError("loadtest takes no arguments")
	}
	cfg := loadgen.Config{
		Addr:         c.String("addr"),
		Protocol:     c.String("protocol"),
		Path:         c.String("path"),
		Concurrency:  c.Int("concurrency"),
		Duration:     c.Duration("duration"),
		Requests:     c.Int64("requests"),
		Torrents:     c.Int("torrents"),
		Peers:        c.Int("peers"),
		NumWant:      c.Int("numwant"),
		Seed:         c.Uint64("seed"),
		Rate:         c.Int("rate"),
		NoKeepAlive:  c.Bool("no-keepalive"),
		ClientCloses: c.Bool("client-closes"),
		GoNet:        c.Bool("go-net"),
	}
	if cfg.NoKeepAlive && cfg.ClientCloses {
		return usageError("--no-keepalive and --client-closes are two ways to close a connection; give one (see johnlocke loadtest --help)")
	}
	if src := c.String("source"); src != "" {
		addr, err := netip.ParseAddr(src)
		if err != nil {
			return usageError("--source: want an IP address, got %q", src)
		}
		cfg.Source = addr
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

func simulateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "scenario", Value: "surge", Usage: "`SCENARIO`: surge, large, small or fluid"},
		&cli.StringFlag{Name: "tracker", Value: "both", Usage: "`TRACKER` giving peer lists: johnlocke, random or both"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "first `SEED`; runs use consecutive seeds"},
		&cli.IntFlag{Name: "seeds", Value: 3, Usage: "`N` runs (seeds) per tracker"},
		&cli.IntFlag{Name: "peers", Usage: "scale `N`: surge leechers, large arrivals per hour, small members; 0 takes the scenario's own"},
		&cli.StringFlag{Name: "out", Usage: "write CSV and charts to `DIR` (default: none, table only)"},
		&cli.IntFlag{Name: "surge-seeds", Usage: "study: `N` fixed seeders per surge leecher's list (0: the mode's own)"},
		&cli.IntFlag{Name: "large-seed-div", Usage: "study: a large leecher's list is at most 1/`N` seeders (0: the mode's own)"},
		&cli.IntFlag{Name: "small-cursor-step", Usage: "study: small's cursor moves `N` peers per answer; -1 past the whole answer (0: the mode's own)"},
	}
}

// maxSimulateSeeds bounds --seeds: each run takes seconds to a minute.
const maxSimulateSeeds = 100

// simulateCmd runs a simulation study and prints its table.
func simulateCmd(c *cli.Context, stdout io.Writer) error {
	if c.NArg() > 0 {
		return usageError("simulate takes no arguments")
	}
	cfg := simulate.StudyConfig{
		Scenario: c.String("scenario"),
		Seed:     c.Uint64("seed"),
		Seeds:    c.Int("seeds"),
		Peers:    c.Int("peers"),
		Out:      c.String("out"),
		Tuning: modes.Tuning{
			SurgeSeedsPerList: c.Int("surge-seeds"),
			LargeSeedShareDiv: c.Int("large-seed-div"),
			SmallCursorStep:   c.Int("small-cursor-step"),
		},
	}
	if t := cfg.Tuning; t.SurgeSeedsPerList < 0 || t.SurgeSeedsPerList > 50 {
		return usageError("--surge-seeds: want 0 to 50, got %d", t.SurgeSeedsPerList)
	}
	if t := cfg.Tuning; t.LargeSeedShareDiv < 0 || t.LargeSeedShareDiv > 50 {
		return usageError("--large-seed-div: want 0 to 50, got %d", t.LargeSeedShareDiv)
	}
	if t := cfg.Tuning; t.SmallCursorStep < -1 || t.SmallCursorStep > 50 {
		return usageError("--small-cursor-step: want -1 to 50, got %d", t.SmallCursorStep)
	}
	switch tr := c.String("tracker"); tr {
	case "both":
		cfg.Trackers = []simulate.Tracker{simulate.Johnlocke, simulate.Random}
	case string(simulate.Johnlocke), string(simulate.Random):
		cfg.Trackers = []simulate.Tracker{simulate.Tracker(tr)}
	default:
		return usageError("--tracker: want johnlocke, random or both, got %q", tr)
	}
	if cfg.Seeds < 1 || cfg.Seeds > maxSimulateSeeds {
		return usageError("--seeds: want 1 to %d, got %d", maxSimulateSeeds, cfg.Seeds)
	}
	if cfg.Peers < 0 || cfg.Peers > 1_000_000 {
		return usageError("--peers: want 0 to 1000000, got %d", cfg.Peers)
	}
	if _, err := simulate.ScenarioByName(cfg.Scenario, cfg.Peers); err != nil {
		return usageError("--scenario: %v", err)
	}
	if err := simulate.Study(cfg, stdout); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
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
	return append([]cli.Flag{
		&cli.StringFlag{Name: "http", Value: ":6969", Usage: "HTTP listen `ADDR` for announce and scrape (empty: no HTTP)"},
		&cli.StringFlag{Name: "udp", Value: ":6969", Usage: "UDP listen `ADDR` for BEP 15 announce and scrape (empty: no UDP)"},
		&cli.DurationFlag{Name: "udp-window", Value: udp.DefaultWindow, Usage: "let datagrams gather for `DURATION` between two reads of a busy UDP socket (over 2 per window), for fewer system calls per announce; 0 reads whenever one waits"},
		&cli.IntFlag{Name: "udp-sockets", DefaultText: "GOMAXPROCS, the CPUs the process may use", Usage: "`N` UDP sockets sharing --udp's port (SO_REUSEPORT), each with its own reader"},
		&cli.StringFlag{Name: "mode", Value: "large", Usage: "swarm `MODE` for torrents without their own: small, large or surge"},
		&cli.StringFlag{Name: "dir", Usage: "register every .torrent file under `DIR` at start"},
		&cli.BoolFlag{Name: "scan", DefaultText: "on when --dir exists", Usage: "rescan --dir periodically and on SIGHUP"},
		&cli.DurationFlag{Name: "scan-interval", Value: time.Minute, Usage: "`DURATION` between two rescans of --dir under --scan"},
		maxTorrentSizeFlag(),
		&cli.BoolFlag{Name: "locked", Value: true, Usage: "refuse announces for unregistered torrents; --locked=false registers them on first announce"},
		&cli.IntFlag{Name: "maxpeers", Value: 50, Usage: "largest peer list ever returned, `N` peers"},
		&cli.IntFlag{Name: "max-torrents", Value: store.DefaultMaxTorrents, Usage: "most torrents, `N`, organic registration (--locked=false) may reach"},
		&cli.IntFlag{Name: "max-torrents-per-ip", DefaultText: "1% of --max-torrents", Usage: "most organic torrents, `N`, one source address (IPv4, or IPv6 /64) may hold; 0: no per-address bound"},
		&cli.IntFlag{Name: "max-peers-total", Value: store.DefaultMaxPeersTotal, Usage: "peer budget of `N` peers: past it new peers get lists but are not stored"},
		&cli.DurationFlag{Name: "interval", DefaultText: "the mode's own", Usage: "announce interval `DURATION` for every mode"},
		&cli.DurationFlag{Name: "min-interval", DefaultText: "the mode's own", Usage: "min interval `DURATION` for every mode"},
		&cli.DurationFlag{Name: "flush-interval", Value: store.DefaultFlushInterval, Usage: "`DURATION` between two writes of changed state to the database"},
		&cli.IntFlag{Name: "gc-percent", Value: daemon.DefaultGCPercent, DefaultText: "$GOGC when set, else 20", Usage: "let the heap grow `PERCENT` past its live data before collecting (GOGC); a negative value turns collection off"},
		&cli.StringSliceFlag{Name: "trusted-proxy", Usage: "`CIDR` (or address) of a reverse proxy whose --trusted-proxy-header is believed (repeatable)"},
		&cli.StringFlag{Name: "trusted-proxy-header", Value: announce.DefaultTrustedProxyHeader, Usage: "the one header, `NAME`, a trusted proxy reports the client's address in (X-Real-IP behind nginx's proxy_set_header X-Real-IP $remote_addr)"},
		&cli.IntFlag{Name: "max-conns-per-ip", Value: announce.DefaultMaxConnsPerIP, Usage: "`N` HTTP connections one IPv4 address or IPv6 /64 may hold at once (trusted proxies exempt)"},
		&cli.StringFlag{Name: "http-keepalive", Value: announce.KeepAliveProxies.String(), Usage: "which HTTP connections stay open after an answer, `MODE`: on (any whose request allows it), off (none, as opentracker), proxies (only --trusted-proxy ones)"},
		&cli.IntFlag{Name: "rate-limit", DefaultText: "0, no limit", Usage: "`N` announces and scrapes per second per IPv4 address or IPv6 /64, HTTP and UDP together"},
		&cli.IntFlag{Name: "rate-burst", DefaultText: "60 × --rate-limit", Usage: "`N` requests a source may make at once before --rate-limit paces it"},
		&cli.BoolFlag{Name: "daemon", Usage: "detach and run in the background, writing --pidfile"},
		&cli.StringFlag{Name: "pidfile", Value: daemon.DefaultPidFile, Usage: "`PATH` where --daemon writes its pid (written without --daemon too when given)"},
		&cli.StringFlag{Name: "log-file", Usage: "log to the file at `PATH` instead of stdout; SIGHUP reopens it"},
		&cli.BoolFlag{Name: "full-scrape", Usage: "answer /scrape without an infohash with every torrent's counts (small-mode torrents left out)"},
		&cli.DurationFlag{Name: "full-scrape-interval", Value: announce.DefaultFullScrapeInterval, Usage: "rebuild the --full-scrape answer at most once per `DURATION`"},
		&cli.StringFlag{Name: "status", Value: status.DefaultAddr, Usage: "status listener `ADDR`: /metrics (Prometheus), the status page at / and /stats.json (empty: none)"},
	}, clusterFlags()...)
}

// Bounds of serve's numbers and durations. Each is a usage error (exit 2)
// outside them, named with its flag, rather than a value quietly replaced.
const (
	// minMaxPeers and maxMaxPeers bound --maxpeers: an answer lists at
	// least one peer, and no client may ask for more than MaxNumWant.
	minMaxPeers = 1
	maxMaxPeers = announce.MaxNumWant
	// minInterval and maxInterval bound --interval: a peer's age is
	// counted in whole ticks, and a peer is kept for two intervals (plus a
	// minute), which must fit in the one-byte age of modes.MaxAge ticks.
	minInterval = modes.Tick
	maxInterval = time.Duration(modes.MaxAge) * modes.Tick / 2
	// minMinInterval bounds --min-interval from below: clients are told
	// not to come back sooner, and sooner than a second invites floods.
	minMinInterval = time.Second
	// minFlushInterval and maxFlushInterval bound --flush-interval: more
	// often, the flusher would hold the write lock more than it leaves it;
	// less often, a crash would lose more than a day of swarms.
	minFlushInterval = 100 * time.Millisecond
	maxFlushInterval = 24 * time.Hour
	// minScanInterval bounds --scan-interval: each rescan walks all of --dir.
	minScanInterval = time.Second
	// minFullScrapeInterval bounds --full-scrape-interval: a build locks
	// every shard in turn and copies a million torrents' counts, work that
	// more often than this would be spent on answers nobody reads.
	minFullScrapeInterval = 10 * time.Second
	// maxUDPSockets bounds --udp-sockets: each socket has its own reader
	// and a receive buffer of up to 4 MiB.
	maxUDPSockets = 1024
	// maxUDPWindow bounds --udp-window: past 10 ms the wait is latency a
	// client could notice, and nothing is left to save.
	maxUDPWindow = 10 * time.Millisecond
)

// serveConfig is everything `serve` runs with, every value checked. The
// fields are named after serve's flags; parseServeConfig fills it from a
// command line and a config file, and --print-config shows it.
type serveConfig struct {
	DB, Admin     string // the global --db and --admin
	Verbose       bool
	HTTP, UDP     string        // listen addresses; "" turns a listener off
	UDPSockets    int           // at least 1
	UDPWindow     time.Duration // 0: never pace (udp.Config.Window's "never" is negative)
	Mode          modes.Mode
	Dir           string // "" registers no directory
	Scan          bool
	ScanInterval  time.Duration
	Locked        bool
	MaxPeers      int
	MaxTorrents   int
	MaxPeersTotal int
	// MaxTorrentsPerIP is the store's MaxTorrentsPerAddr: 0 its default
	// share of MaxTorrents, negative no bound (--max-torrents-per-ip 0).
	MaxTorrentsPerIP int
	MaxTorrentSize   int64         // bytes; the largest .torrent a --dir scan reads
	Interval         time.Duration // 0: every mode's own
	MinInterval      time.Duration // 0: every mode's own
	FlushInterval    time.Duration
	GCPercent        int
	KeepGOGC         bool // $GOGC is set and --gc-percent is not: leave the collector alone
	TrustedProxy     []netip.Prefix
	// Wire holds the per-source bounds both listeners apply: connections
	// per address, the one proxy header believed, and one rate limiter
	// shared by HTTP and UDP.
	Wire wireLimitsConfig
	// HTTPKeepAlive says which HTTP connections stay open after an answer.
	HTTPKeepAlive announce.KeepAlive
	Daemon        bool
	PidFile       string // "" writes no pid file
	LogFile       string // "" logs to stdout
	// FullScrape makes /scrape without an infohash answer with every
	// torrent, rebuilt at most every FullScrapeInterval.
	FullScrape         bool
	FullScrapeInterval time.Duration
	// Status is the status listener's address, "" for none; StatusSet
	// tells that it was asked for, not the default, so that failing to
	// bind it stops serve (the default's failure is only logged).
	Status    string
	StatusSet bool
	// Cluster is cluster mode (--cluster-*, --node-name), off by default.
	Cluster clusterConfig
}

// parseServeConfig turns serve's command line into a serveConfig. Every
// usage error of serve is found here, before anything is opened or bound.
func parseServeConfig(c *cli.Context) (serveConfig, error) {
	cfg := serveConfig{
		DB:            globalString(c, "db"),
		Admin:         globalString(c, "admin"),
		Verbose:       globalBool(c, "verbose"),
		HTTP:          c.String("http"),
		UDP:           c.String("udp"),
		UDPSockets:    c.Int("udp-sockets"),
		UDPWindow:     c.Duration("udp-window"),
		Dir:           c.String("dir"),
		ScanInterval:  c.Duration("scan-interval"),
		Locked:        c.Bool("locked"),
		MaxPeers:      c.Int("maxpeers"),
		MaxTorrents:   c.Int("max-torrents"),
		MaxPeersTotal: c.Int("max-peers-total"),
		Interval:      c.Duration("interval"),
		MinInterval:   c.Duration("min-interval"),
		FlushInterval: c.Duration("flush-interval"),
		GCPercent:     c.Int("gc-percent"),
		KeepGOGC:      !c.IsSet("gc-percent") && os.Getenv("GOGC") != "",
		Daemon:        c.Bool("daemon"),
		LogFile:       c.String("log-file"),
	}
	cfg.FullScrape, cfg.FullScrapeInterval = c.Bool("full-scrape"), c.Duration("full-scrape-interval")
	cfg.Status, cfg.StatusSet = c.String("status"), c.IsSet("status")
	if cfg.Status != "" {
		if _, err := net.ResolveTCPAddr("tcp", cfg.Status); err != nil {
			return cfg, usageError("--status %q: want [host]:port with a port from 0 to 65535, or '' for none: %v", cfg.Status, err)
		}
	}
	if err := durationIn("full-scrape-interval", cfg.FullScrapeInterval, minFullScrapeInterval, math.MaxInt64); err != nil {
		return cfg, err
	}
	if c.NArg() > 0 {
		return cfg, usageError("serve takes no arguments, got %q", c.Args().First())
	}
	var err error
	cfg.Mode, err = modes.Parse(c.String("mode"))
	if err != nil || cfg.Mode == modes.Default {
		return cfg, usageError("--mode: want small, large or surge, got %q", c.String("mode"))
	}
	if cfg.HTTP == "" && cfg.UDP == "" {
		return cfg, usageError("--http and --udp are both empty: nothing to serve")
	}
	if cfg.HTTP != "" {
		if _, err := net.ResolveTCPAddr("tcp", cfg.HTTP); err != nil {
			return cfg, usageError("--http %q: want [host]:port with a port from 0 to 65535: %v", cfg.HTTP, err)
		}
	}
	if cfg.UDP != "" {
		if _, err := net.ResolveUDPAddr("udp", cfg.UDP); err != nil {
			return cfg, usageError("--udp %q: want [host]:port with a port from 0 to 65535: %v", cfg.UDP, err)
		}
	}
	if !c.IsSet("udp-sockets") {
		// One reader per socket; the kernel spreads clients over the
		// sockets by address, so each CPU can answer its share.
		cfg.UDPSockets = min(runtime.GOMAXPROCS(0), maxUDPSockets)
		if !udp.CanReusePort() {
			cfg.UDPSockets = 1
		}
	}
	if err := intIn("udp-sockets", cfg.UDPSockets, 1, maxUDPSockets); err != nil {
		return cfg, err
	}
	if err := durationIn("udp-window", cfg.UDPWindow, 0, maxUDPWindow); err != nil {
		return cfg, err
	}
	if err := intIn("maxpeers", cfg.MaxPeers, minMaxPeers, maxMaxPeers); err != nil {
		return cfg, err
	}
	if err := intIn("max-torrents", cfg.MaxTorrents, 1, math.MaxInt); err != nil {
		return cfg, err
	}
	if err := intIn("max-peers-total", cfg.MaxPeersTotal, 1, math.MaxInt); err != nil {
		return cfg, err
	}
	if c.IsSet("interval") {
		if err := durationIn("interval", cfg.Interval, minInterval, maxInterval); err != nil {
			return cfg, err
		}
	}
	if c.IsSet("min-interval") {
		upper, upperName := maxInterval, ""
		if c.IsSet("interval") {
			upper, upperName = cfg.Interval, " (--interval)"
		}
		if err := durationIn("min-interval", cfg.MinInterval, minMinInterval, upper); err != nil {
			return cfg, usageError("%v%s", err, upperName)
		}
	}
	if err := durationIn("flush-interval", cfg.FlushInterval, minFlushInterval, maxFlushInterval); err != nil {
		return cfg, err
	}
	if err := durationIn("scan-interval", cfg.ScanInterval, minScanInterval, math.MaxInt64); err != nil {
		return cfg, err
	}
	// The store reads 0 as its default share and a negative value as no
	// bound; on the command line 0 means no bound.
	if c.IsSet("max-torrents-per-ip") {
		if cfg.MaxTorrentsPerIP = c.Int("max-torrents-per-ip"); cfg.MaxTorrentsPerIP < 0 {
			return cfg, usageError("--max-torrents-per-ip %d: want 0 (no bound) or more", cfg.MaxTorrentsPerIP)
		} else if cfg.MaxTorrentsPerIP == 0 {
			cfg.MaxTorrentsPerIP = -1
		}
	}
	for _, p := range c.StringSlice("trusted-proxy") {
		prefix, err := parsePrefix(p)
		if err != nil {
			return cfg, usageError("--trusted-proxy: %v", err)
		}
		cfg.TrustedProxy = append(cfg.TrustedProxy, prefix)
	}
	if cfg.MaxTorrentSize, err = torrentSize(c); err != nil {
		return cfg, err
	}
	if cfg.Wire, err = wireLimits(c); err != nil {
		return cfg, err
	}
	if cfg.HTTPKeepAlive, err = announce.ParseKeepAlive(c.String("http-keepalive")); err != nil {
		return cfg, usageError("--http-keepalive: %v", err)
	}
	if cfg.Cluster, err = parseClusterConfig(c); err != nil {
		return cfg, err
	}
	if cfg.Dir != "" {
		fi, err := os.Stat(cfg.Dir)
		if err != nil || !fi.IsDir() {
			return cfg, usageError("--dir %s: not a directory", cfg.Dir)
		}
		cfg.Scan = true
	}
	if c.IsSet("scan") {
		cfg.Scan = c.Bool("scan")
		if cfg.Scan && cfg.Dir == "" {
			return cfg, usageError("--scan needs --dir")
		}
	}
	if cfg.Daemon || c.IsSet("pidfile") {
		cfg.PidFile = c.String("pidfile")
	}
	return cfg, nil
}

// intIn is a usage error naming the flag and its range when v is outside
// [lo, hi]; math.MaxInt as hi means no upper bound.
func intIn(flag string, v, lo, hi int) error {
	switch {
	case v >= lo && v <= hi:
		return nil
	case hi == math.MaxInt:
		return usageError("--%s %d: must be at least %d", flag, v, lo)
	default:
		return usageError("--%s %d: must be from %d to %d", flag, v, lo, hi)
	}
}

// durationIn is intIn for durations; math.MaxInt64 as hi means no upper
// bound.
func durationIn(flag string, v, lo, hi time.Duration) error {
	switch {
	case v >= lo && v <= hi:
		return nil
	case hi == math.MaxInt64:
		return usageError("--%s %v: must be at least %v", flag, v, lo)
	default:
		return usageError("--%s %v: must be from %v to %v", flag, v, lo, hi)
	}
}

// serveCmd is `serve`: a checked config, then the tracker, or with
// --print-config the config alone.
func serveCmd(c *cli.Context, stdout io.Writer) error {
	cfg, err := parseServeConfig(c)
	if err != nil {
		return err
	}
	if c.Bool("print-config") {
		return printConfig(cfg, stdout)
	}
	return serve(cfg, stdout)
}

// printConfigFlag is serve's --print-config. It is kept out of
// withConfigFile: a file that turned it on would make every serve of that
// file print and exit instead of serving.
func printConfigFlag() cli.Flag {
	return &cli.BoolFlag{Name: "print-config",
		Usage: "print the settings serve would run with (command line, --config file and environment, every value checked) as JSON, each under its flag's name, and exit without opening, binding or writing anything; the cluster secret is not printed, only \"cluster-secret-set\": true"}
}

// printedConfig is what --print-config prints. Each key is its flag's
// name, which is also the config file's key, so the output reads against
// --help and a value can be copied into the file. Durations are Go's
// duration strings (10m0s, 200µs), which the flags and the file accept
// back. Every key is always there, so that scripts need not tell a missing
// key from a default; null is a value serve leaves to each mode.
type printedConfig struct {
	DB                 string   `json:"db"`
	Admin              string   `json:"admin"`
	Verbose            bool     `json:"verbose"`
	HTTP               string   `json:"http"`
	UDP                string   `json:"udp"`
	UDPSockets         int      `json:"udp-sockets"`
	UDPWindow          string   `json:"udp-window"`
	Mode               string   `json:"mode"`
	Dir                string   `json:"dir"`
	Scan               bool     `json:"scan"`
	ScanInterval       string   `json:"scan-interval"`
	MaxTorrentSize     int64    `json:"max-torrent-size"` // bytes
	Locked             bool     `json:"locked"`
	MaxPeers           int      `json:"maxpeers"`
	MaxTorrents        int      `json:"max-torrents"`
	MaxTorrentsPerIP   int      `json:"max-torrents-per-ip"` // 0: no bound, as on the command line
	MaxPeersTotal      int      `json:"max-peers-total"`
	Interval           *string  `json:"interval"`     // null: each mode's own
	MinInterval        *string  `json:"min-interval"` // null: each mode's own
	FlushInterval      string   `json:"flush-interval"`
	GCPercent          int      `json:"gc-percent"`
	TrustedProxy       []string `json:"trusted-proxy"`
	TrustedProxyHeader string   `json:"trusted-proxy-header"`
	MaxConnsPerIP      int      `json:"max-conns-per-ip"`
	HTTPKeepAlive      string   `json:"http-keepalive"`
	RateLimit          int      `json:"rate-limit"` // 0: no limit
	RateBurst          int      `json:"rate-burst"` // 0 without a rate limit
	Daemon             bool     `json:"daemon"`
	PidFile            string   `json:"pidfile"` // "": no pid file is written
	LogFile            string   `json:"log-file"`
	FullScrape         bool     `json:"full-scrape"`
	FullScrapeInterval string   `json:"full-scrape-interval"`
	Status             string   `json:"status"`
	ClusterListen      string   `json:"cluster-listen"`
	ClusterPeer        []string `json:"cluster-peer"`
	ClusterSecretFile  string   `json:"cluster-secret-file"`
	// ClusterSecretSet stands for the secret itself, which would let
	// whoever reads the output join the cluster or forge connection ids.
	ClusterSecretSet bool     `json:"cluster-secret-set"`
	NodeName         string   `json:"node-name"`
	ClusterNATS      []string `json:"cluster-nats"`
}

// printConfig writes cfg to stdout as --print-config shows it: the values
// serve would use, defaults that depend on others worked out.
func printConfig(cfg serveConfig, stdout io.Writer) error {
	p := printedConfig{
		DB: cfg.DB, Admin: admin.SocketPath(cfg.DB, cfg.Admin), Verbose: cfg.Verbose,
		HTTP: cfg.HTTP, UDP: cfg.UDP, UDPSockets: cfg.UDPSockets, UDPWindow: cfg.UDPWindow.String(),
		Mode: cfg.Mode.String(), Dir: cfg.Dir, Scan: cfg.Scan, ScanInterval: cfg.ScanInterval.String(),
		MaxTorrentSize: cfg.MaxTorrentSize, Locked: cfg.Locked, MaxPeers: cfg.MaxPeers,
		MaxTorrents: cfg.MaxTorrents, MaxPeersTotal: cfg.MaxPeersTotal,
		FlushInterval: cfg.FlushInterval.String(), GCPercent: cfg.GCPercent,
		TrustedProxy:       []string{},
		TrustedProxyHeader: cfg.Wire.proxyHeader, MaxConnsPerIP: cfg.Wire.connsPerIP, HTTPKeepAlive: cfg.HTTPKeepAlive.String(),
		RateLimit: cfg.Wire.perSecond, RateBurst: cfg.Wire.burst,
		Daemon: cfg.Daemon, PidFile: cfg.PidFile, LogFile: cfg.LogFile,
		FullScrape: cfg.FullScrape, FullScrapeInterval: cfg.FullScrapeInterval.String(), Status: cfg.Status,
		ClusterListen: cfg.Cluster.Listen, ClusterPeer: append([]string{}, cfg.Cluster.Peers...),
		ClusterSecretFile: cfg.Cluster.SecretFile, ClusterSecretSet: len(cfg.Cluster.Secret) > 0,
		NodeName: cfg.Cluster.NodeName, ClusterNATS: append([]string{}, cfg.Cluster.NATSURLs...),
	}
	// The store turns 0 into its default share and a negative value into
	// no bound; printed as the flag means it.
	switch {
	case cfg.MaxTorrentsPerIP < 0:
		p.MaxTorrentsPerIP = 0
	case cfg.MaxTorrentsPerIP == 0:
		p.MaxTorrentsPerIP = store.DefaultMaxTorrentsPerAddr(cfg.MaxTorrents)
	default:
		p.MaxTorrentsPerIP = cfg.MaxTorrentsPerIP
	}
	if cfg.Interval != 0 {
		s := cfg.Interval.String()
		p.Interval = &s
	}
	if cfg.MinInterval != 0 {
		s := cfg.MinInterval.String()
		p.MinInterval = &s
	}
	if cfg.KeepGOGC {
		// serve would leave the collector as the runtime set it from
		// $GOGC ("off" included); SetGCPercent is the only way to read
		// that setting, so it is set back at once.
		p.GCPercent = debug.SetGCPercent(100)
		debug.SetGCPercent(p.GCPercent)
	}
	for _, prefix := range cfg.TrustedProxy {
		p.TrustedProxy = append(p.TrustedProxy, prefix.String())
	}
	out, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	if _, err := stdout.Write(append(out, '\n')); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return nil
}

// serve builds the tracker from cfg and runs it until SIGINT or SIGTERM.
func serve(cfg serveConfig, stdout io.Writer) (err error) {
	if !cfg.KeepGOGC {
		debug.SetGCPercent(cfg.GCPercent)
	}
	// Abort is a second SIGINT or SIGTERM: exit at once, without the final flush.
	o := daemon.Options{Args: os.Args[1:], LogFile: cfg.LogFile, Verbose: cfg.Verbose,
		Abort: func() { os.Exit(exitFailed) }}
	if cfg.Daemon && !daemon.IsChild() {
		return daemon.Background(o, stdout)
	}
	o.PidFile = cfg.PidFile
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
	sock := admin.SocketPath(cfg.DB, cfg.Admin)
	if status, state, err := admin.Probe(sock); err != nil {
		return &exitError{code: exitFailed, err: err}
	} else if state == admin.Live {
		return dbError(&admin.RunningError{Socket: sock, Status: status})
	}

	st, err := store.Open(cfg.DB, store.Config{
		Mode:               cfg.Mode,
		Locked:             cfg.Locked,
		MaxTorrents:        cfg.MaxTorrents,
		MaxTorrentsPerAddr: cfg.MaxTorrentsPerIP,
		MaxPeersTotal:      cfg.MaxPeersTotal,
		MaxPeers:           cfg.MaxPeers,
		Interval:           cfg.Interval,
		MinInterval:        cfg.MinInterval,
		FlushInterval:      cfg.FlushInterval,
		MaxTorrentSize:     cfg.MaxTorrentSize,
		Log:                log,
	})
	if err != nil {
		return dbError(err)
	}
	serving := false
	if st.DB().Created() {
		log.Info().Str("db", cfg.DB).Msg("created new database")
		// Runs after the store closes: a serve that never got to serve
		// (a listener that would not open, say) leaves no new, empty
		// database behind for a typo in --db to hide in.
		defer func() {
			if !serving {
				_ = os.Remove(cfg.DB)
			}
		}()
	}
	storeDone := make(chan error, 1)
	storeCtx, stopStore := context.WithCancel(context.Background())
	go func() { storeDone <- st.Run(storeCtx) }()
	go daemon.ReturnMemory(ctx, time.Second)
	// Whatever happens below, the store flushes and closes last. A final
	// flush that fails loses what it could not write: the exit code says
	// so, for a supervisor to notice.
	defer func() {
		stopStore()
		flushErr := <-storeDone
		if flushErr != nil {
			log.Error().Err(flushErr).Msg("final flush failed: state not yet written is lost")
		}
		if cerr := st.Close(); cerr != nil {
			log.Error().Err(cerr).Msg("closing the database")
			if flushErr == nil {
				flushErr = cerr
			}
		}
		if flushErr != nil && err == nil {
			err = &exitError{code: exitFailed, err: fmt.Errorf("final flush: %w", flushErr)}
		}
		// The last line of the log: an operator (or a script) reading
		// it knows whether the shutdown completed.
		if err == nil {
			log.Info().Msg("stopped")
		} else {
			log.Error().Msg("stopped after a failure")
		}
	}()

	display := newClusterDisplay(ctx, cfg.Cluster)
	adm, err := admin.Listen(st, admin.Config{
		Path: sock, DB: absPath(cfg.DB), Version: daemon.Version(version), Started: started, Log: log,
		Cluster: display.Tracker(),
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

	if cfg.Dir != "" {
		res, err := st.ScanDir(cfg.Dir)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		log.Info().Str("dir", cfg.Dir).Int("found", res.Found).Int("added", res.Added).Int("failed", res.Failed).Int("removed", res.Removed).Msg("loaded torrent directory")
		// SIGHUP rescans --dir; --scan adds a periodic rescan.
		var every time.Duration
		if cfg.Scan {
			every = cfg.ScanInterval
		}
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			st.WatchDir(ctx.Done(), cfg.Dir, every, lc.Rescan())
		}()
		// Runs before the store closes.
		defer func() {
			stopServing()
			<-watching
		}()
	}

	// Joined before any listener serves: the first answers come from
	// complete swarms. Left after the listeners stop, before the store
	// closes.
	node, err := startCluster(ctx, cfg.Cluster, st, log)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	display.joined(node)
	if node != nil {
		defer func() {
			if err := node.Close(); err != nil {
				log.Warn().Err(err).Msg("leaving the cluster")
			}
		}()
	}

	// Every listener is bound before any serves, UDP first: a port another
	// tracker holds stops this one before it has bound anything else.
	var (
		key                 []byte
		conns               []*net.UDPConn
		lns                 []net.Listener
		httpBound, udpBound string
	)
	if cfg.UDP != "" {
		// The key lives in the database so connection ids that clients
		// hold stay valid across a restart.
		if cfg.Cluster.Enabled {
			// Every node derives the same key, so an id from one is
			// valid on the others.
			key = cluster.ConnectionIDKey(cfg.Cluster.Secret)
		} else if key, err = st.DB().Secret("udp-connection-id", 32); err != nil {
			return dbError(err)
		}
		conns, err = udp.ListenReusePort(ctx, "udp", cfg.UDP, cfg.UDPSockets)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		udpBound = conns[0].LocalAddr().String()
	}
	if cfg.HTTP != "" {
		// One listener per CPU, as for UDP: each accepting goroutine
		// answers the requests that arrive with their connection.
		n := runtime.GOMAXPROCS(0)
		if !announce.CanReusePort() {
			n = 1
		}
		lns, err = announce.ListenHTTP(ctx, "tcp", cfg.HTTP, n)
		if err != nil {
			for _, conn := range conns {
				conn.Close()
			}
			return &exitError{code: exitFailed, err: fmt.Errorf("listen on %s: %w", cfg.HTTP, err)}
		}
		httpBound = lns[0].Addr().String()
	}
	serveErr := make(chan error, len(lns)+len(conns)+1)
	var (
		httpSrv *announce.HTTPServer
		udpSrv  *udp.Server
	)
	if len(lns) > 0 {
		httpSrv = announce.NewHTTPServer(st, announce.HTTPConfig{
			MaxPeers:           cfg.MaxPeers,
			TrustedProxies:     cfg.TrustedProxy,
			TrustedProxyHeader: cfg.Wire.proxyHeader,
			MaxConnsPerIP:      cfg.Wire.connsPerIP,
			KeepAlive:          cfg.HTTPKeepAlive,
			RateLimit:          cfg.Wire.rate,
			FullScrape:         cfg.FullScrape,
			FullScrapeInterval: cfg.FullScrapeInterval,
		}, log)
		for _, ln := range lns {
			go func() { serveErr <- labelled("http", httpSrv.Serve(ctx, ln)) }()
		}
	}
	if len(conns) > 0 {
		udpSrv = udp.NewServer(st, udp.Config{Key: key, MaxPeers: cfg.MaxPeers, RateLimit: cfg.Wire.rate, Window: udpWindow(cfg.UDPWindow)}, log)
		for _, conn := range conns {
			go func() { serveErr <- labelled("udp", udpSrv.Serve(ctx, conn)) }()
		}
	}
	statusBound, err := serveStatus(ctx, cfg, status.Sources{Store: st, HTTP: httpSrv, UDP: udpFigures(udpSrv),
		Version: daemon.Version(version), Started: started, Cluster: display.Tracker()}, serveErr, log)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	torrents, peers := st.Counts()
	log.Info().Str("http", httpBound).Str("udp", udpBound).Str("status", statusBound).Str("mode", cfg.Mode.String()).Bool("locked", cfg.Locked).
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

// serveStatus starts the status listener of cfg.Status, if any, and
// returns the address it bound. A default address that cannot be bound
// (another tracker on the machine holds it) is logged and left out; one
// the operator asked for is an error.
func serveStatus(ctx context.Context, cfg serveConfig, src status.Sources, serveErr chan<- error, log zerolog.Logger) (string, error) {
	if cfg.Status == "" {
		return "", nil
	}
	ln, err := net.Listen("tcp", cfg.Status)
	if err != nil {
		if !cfg.StatusSet {
			log.Warn().Err(err).Msg("status listener not started (--status '' turns it off)")
			return "", nil
		}
		return "", fmt.Errorf("status: %w", err)
	}
	srv := status.New(src, 0, log)
	go func() { serveErr <- labelled("status", srv.Serve(ctx, ln)) }()
	return ln.Addr().String(), nil
}

// udpFigures is srv for status.Sources, nil (not a nil *udp.Server) when
// serve runs no UDP.
func udpFigures(srv *udp.Server) status.UDPFigures {
	if srv == nil {
		return nil
	}
	return srv
}

// labelled names the listener an error came from; nil stays nil.
func labelled(listener string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", listener, err)
}

// parsePrefix accepts an address or a CIDR prefix.
// wireLimitsConfig is what serve's per-address flags set for the listeners.
type wireLimitsConfig struct {
	proxyHeader string
	connsPerIP  int
	rate        *limit.Rate // nil: no rate limit; shared by HTTP and UDP
	// perSecond and burst are what rate was made with (0 without one),
	// kept for --print-config: a limit.Rate does not tell them.
	perSecond, burst int
}

// wireLimits checks serve's per-address flags, each a usage error when out
// of its range.
func wireLimits(c *cli.Context) (wireLimitsConfig, error) {
	w := wireLimitsConfig{proxyHeader: c.String("trusted-proxy-header"), connsPerIP: c.Int("max-conns-per-ip")}
	if !announce.ValidHeaderName(w.proxyHeader) {
		return w, usageError("--trusted-proxy-header: %q is not a header name (letters, digits and !#$%%&'*+-.^_`|~)", w.proxyHeader)
	}
	if maxShare := announce.DefaultMaxConns / 2; w.connsPerIP < 1 || w.connsPerIP > maxShare {
		return w, usageError("--max-conns-per-ip: want 1 to %d (half the connection cap), got %d", maxShare, w.connsPerIP)
	}
	perSecond, burst := c.Int("rate-limit"), c.Int("rate-burst")
	if perSecond < 0 || perSecond > limit.MaxPerSecond {
		return w, usageError("--rate-limit: want 0 (no limit) to %d requests per second, got %d", limit.MaxPerSecond, perSecond)
	}
	if c.IsSet("rate-burst") {
		if perSecond == 0 {
			return w, usageError("--rate-burst needs --rate-limit")
		}
		if burst < 1 || burst > limit.MaxBurst {
			return w, usageError("--rate-burst: want 1 to %d, got %d", limit.MaxBurst, burst)
		}
	}
	if perSecond > 0 {
		if !c.IsSet("rate-burst") {
			burst = min(60*perSecond, limit.MaxBurst) // a minute's worth
		}
		w.rate = limit.NewRate(perSecond, burst, nil)
		w.perSecond, w.burst = perSecond, burst
	}
	return w, nil
}

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
	maxTorrentSize, err := torrentSize(c)
	if err != nil {
		return err
	}
	read := metainfo.Options{MaxFileSize: maxTorrentSize}
	var (
		ts      []store.Torrent
		failed  int
		missing []string
	)
	for _, root := range c.Args().Slice() {
		err := read.Walk(root, func(path string, m *metainfo.Torrent, err error) {
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
		if err := refuseBanned(results); err != nil {
			return err
		}
	} else {
		report.Import(stdout, nil, nil, failed)
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d file(s) or line(s) could not be imported", failed)}
	}
	return nil
}

// maxTorrentSizeFlag is --max-torrent-size, shared by serve and import so
// both read .torrent files under one bound.
func maxTorrentSizeFlag() cli.Flag {
	return &cli.StringFlag{Name: "max-torrent-size", Value: "16MiB",
		Usage: "largest .torrent file read, a `SIZE` in bytes (or with KiB, MiB); larger files are refused by name"}
}

// torrentSize reads --max-torrent-size: bytes, KiB or MiB, within the
// bounds metainfo accepts.
func torrentSize(c *cli.Context) (int64, error) {
	s := c.String("max-torrent-size")
	num, unit := s, int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}} {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSuffix(s, u.suffix), u.size
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	// n is checked against the largest bound before it is multiplied, so
	// the product cannot overflow.
	if err != nil || n > metainfo.MaxFileSize/unit || n*unit < metainfo.MinFileSize {
		return 0, usageError("--max-torrent-size: want 1KiB to 64MiB (bytes, or a number with KiB or MiB), got %q", s)
	}
	return n * unit, nil
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
	if c.Bool("banned") {
		return bannedCmd(c, stdout)
	}
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
	view := report.View{Live: info.Live, ServeMode: info.ServeMode, ServeModeKnown: info.ServeModeKnown, Cluster: info.Cluster}
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

// configFlag is serve's --config.
func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config",
		Usage: "read serve's flags from the TOML (.toml) or YAML (.yaml, .yml) file at `PATH`; a flag on the command line or in the environment wins over the file"}
}

// serveCommandFlags are serve's flags (the global ones, serveFlags and
// --config), each wrapped so a config file can set it, and
// --print-config, which a file cannot set. The same slice
// must go to the command and to loadConfigFile: altsrc applies file values
// through the flag set each wrapped flag was applied to.
func serveCommandFlags() []cli.Flag {
	fs := append(globalFlags(), serveFlags()...)
	return append(withConfigFile(append(fs, configFlag())), printConfigFlag())
}

// withConfigFile wraps every flag of fs with altsrc's flag of its type, so
// that flags added to serveFlags later are covered without a list to keep
// in step. A flag of a type altsrc has no wrapper for is left as it is;
// TestEveryServeFlagFromConfig (store/clitest) fails on it.
func withConfigFile(fs []cli.Flag) []cli.Flag {
	out := make([]cli.Flag, len(fs))
	for i, f := range fs {
		switch f := f.(type) {
		case *cli.StringFlag:
			out[i] = altsrc.NewStringFlag(f)
		case *cli.BoolFlag:
			out[i] = altsrc.NewBoolFlag(f)
		case *cli.IntFlag:
			out[i] = altsrc.NewIntFlag(f)
		case *cli.Int64Flag:
			out[i] = altsrc.NewInt64Flag(f)
		case *cli.UintFlag:
			out[i] = altsrc.NewUintFlag(f)
		case *cli.Uint64Flag:
			out[i] = altsrc.NewUint64Flag(f)
		case *cli.Float64Flag:
			out[i] = altsrc.NewFloat64Flag(f)
		case *cli.DurationFlag:
			out[i] = altsrc.NewDurationFlag(f)
		case *cli.PathFlag:
			out[i] = altsrc.NewPathFlag(f)
		case *cli.StringSliceFlag:
			out[i] = altsrc.NewStringSliceFlag(f)
		case *cli.IntSliceFlag:
			out[i] = altsrc.NewIntSliceFlag(f)
		case *cli.Int64SliceFlag:
			out[i] = altsrc.NewInt64SliceFlag(f)
		case *cli.Float64SliceFlag:
			out[i] = altsrc.NewFloat64SliceFlag(f)
		case *cli.GenericFlag:
			out[i] = altsrc.NewGenericFlag(f)
		default:
			out[i] = f
		}
	}
	return out
}

// loadConfigFile is serve's Before: with --config, it sets from the file
// every flag not given on the command line (before or after the
// subcommand) nor in the environment. A key that names no serve flag, a
// value of the wrong type and a file that cannot be read are usage errors
// naming the file.
func loadConfigFile(flags []cli.Flag) cli.BeforeFunc {
	return func(c *cli.Context) error {
		path := c.String("config")
		if path == "" {
			return nil
		}
		keys, src, err := readConfigFile(path)
		if err != nil {
			return usageError("--config %s: %v", path, err)
		}
		known := map[string]bool{}
		for _, f := range flags {
			for _, n := range f.Names() {
				known[n] = true
			}
		}
		// --config names the file, --print-config is asked of one run
		// (see printConfigFlag); help is no setting.
		for _, n := range []string{"config", "print-config", "help", "h"} {
			delete(known, n)
		}
		for _, k := range keys {
			if !known[k] {
				return usageError("--config %s: unknown key %q: not a serve flag (see johnlocke serve --help)", path, k)
			}
		}
		var fromFile []cli.Flag
		for _, f := range flags {
			if !setInLineage(c, f.Names()[0]) {
				fromFile = append(fromFile, f)
			}
		}
		if err := altsrc.ApplyInputSourceValues(c, src, fromFile); err != nil {
			return usageError("--config %s: %v", path, err)
		}
		return nil
	}
}

// setInLineage reports whether the flag name was given on the command
// line (or in its environment variable) at the subcommand or before it.
func setInLineage(c *cli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if ctx.Command == nil && ctx.App == nil {
			continue
		}
		if ctx.IsSet(name) {
			return true
		}
	}
	return false
}

// readConfigFile reads a TOML or YAML config file, by its extension: the
// top-level keys in file order (for the unknown-key check, which altsrc
// does not make) and altsrc's source of values.
func readConfigFile(path string) ([]string, altsrc.InputSourceContext, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var keys []string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		var m map[string]any
		md, err := toml.Decode(string(data), &m)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range md.Keys() {
			if len(k) == 1 {
				keys = append(keys, k[0])
			}
		}
		src, err := altsrc.NewTomlSourceFromFile(path)
		return keys, src, err
	case ".yaml", ".yml":
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, nil, err
		}
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		src, err := altsrc.NewYamlSourceFromFile(path)
		return keys, src, err
	}
	return nil, nil, fmt.Errorf("want a .toml, .yaml or .yml file")
}

// banCommands are remove and unban, beside a running serve or on the file.
func banCommands(stdout io.Writer) []*cli.Command {
	withGlobals := func(fs ...cli.Flag) []cli.Flag { return append(globalFlags(), fs...) }
	return []*cli.Command{
		{
			Name:      "remove",
			Usage:     "unregister torrents and drop their swarms; --ban keeps them out for good",
			ArgsUsage: "INFOHASH...",
			Flags: withGlobals(
				&cli.BoolFlag{Name: "ban", Usage: "also put each infohash on the deny list: no import, --dir scan or announce brings it back"},
				&cli.StringFlag{Name: "reason", Usage: "`TEXT` kept with the ban, shown by stats --banned"},
			),
			Action: func(c *cli.Context) error { return removeCmd(c, stdout) },
		},
		{
			Name:      "unban",
			Usage:     "lift bans set by remove --ban",
			ArgsUsage: "INFOHASH...",
			Flags:     withGlobals(),
			Action:    func(c *cli.Context) error { return unbanCmd(c, stdout) },
		},
	}
}

// bannedFlag is stats --banned.
func bannedFlag() cli.Flag {
	return &cli.BoolFlag{Name: "banned", Usage: "list the banned infohashes (remove --ban) instead"}
}

// parseHashes reads infohash arguments as stats does: hex, base32 or a
// magnet link.
func parseHashes(c *cli.Context, cmd string) ([][20]byte, error) {
	if c.NArg() == 0 {
		return nil, usageError("%s needs at least one infohash (hex, base32 or magnet link)", cmd)
	}
	hashes := make([][20]byte, c.NArg())
	for i, arg := range c.Args().Slice() {
		h, err := store.ParseInfoHash(arg)
		if err != nil {
			return nil, usageError("%v", err)
		}
		hashes[i] = h
	}
	return hashes, nil
}

// removeCmd unregisters torrents, and with --ban bans them, saying per
// infohash "removed" or "unknown". Without --ban an unknown infohash fails
// the command (exit 1); with it, banning one ahead of its registration is
// what was asked.
func removeCmd(c *cli.Context, stdout io.Writer) error {
	hashes, err := parseHashes(c, "remove")
	if err != nil {
		return err
	}
	ban := c.Bool("ban")
	if c.IsSet("reason") && !ban {
		return usageError("--reason needs --ban")
	}
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), store.OpenOptions{})
	if err != nil {
		return err
	}
	results, err := reg.Remove(hashes, ban, c.String("reason"))
	if cerr := reg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	unknown := 0
	for _, r := range results {
		what, banned := "removed", ""
		if !r.Removed {
			what = "unknown"
			unknown++
		}
		if r.Banned {
			banned = " banned"
		}
		fmt.Fprintf(stdout, "%-8s %x%s\n", what, r.InfoHash, banned)
	}
	if unknown > 0 && !ban {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d infohash(es) not registered", unknown)}
	}
	return nil
}

// unbanCmd lifts bans, saying per infohash "unbanned" or "unknown" (not
// banned, which fails the command).
func unbanCmd(c *cli.Context, stdout io.Writer) error {
	hashes, err := parseHashes(c, "unban")
	if err != nil {
		return err
	}
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), store.OpenOptions{})
	if err != nil {
		return err
	}
	was, err := reg.Unban(hashes)
	if cerr := reg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	unknown := 0
	for i, ok := range was {
		what := "unbanned"
		if !ok {
			what = "unknown"
			unknown++
		}
		fmt.Fprintf(stdout, "%-8s %x\n", what, hashes[i])
	}
	if unknown > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d infohash(es) not banned", unknown)}
	}
	return nil
}

// bannedJSON is the stable JSON shape of one ban for scripts.
type bannedJSON struct {
	InfoHash string    `json:"infohash"`
	BannedAt time.Time `json:"banned_at"`
	Reason   string    `json:"reason"`
	// Link is the other name of a hybrid torrent, banned and lifted with it.
	Link string `json:"link,omitempty"`
}

// bannedCmd is stats --banned: the deny list, one infohash a line.
func bannedCmd(c *cli.Context, stdout io.Writer) error {
	if c.NArg() > 0 {
		return usageError("stats --banned takes no infohash")
	}
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), store.OpenOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer reg.Close()
	bans, err := reg.Banned()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		out := make([]bannedJSON, len(bans))
		for i, b := range bans {
			out[i] = bannedJSON{InfoHash: hex.EncodeToString(b.InfoHash[:]), BannedAt: b.At, Reason: b.Reason}
			if b.HasLink {
				out[i].Link = hex.EncodeToString(b.Link[:])
			}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(bans) == 0 {
		fmt.Fprintln(stdout, "no infohash is banned")
		return nil
	}
	for _, b := range bans {
		reason := b.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(stdout, "banned   %x %s %s\n", b.InfoHash, b.At.Local().Format(time.DateTime), reason)
	}
	return nil
}

// refuseBanned fails an import that met banned torrents: a takedown must
// stick, and the operator must hear that the file was not registered.
func refuseBanned(results []store.RegisterResult) error {
	banned := 0
	for _, r := range results {
		if r.Banned {
			banned++
		}
	}
	if banned == 0 {
		return nil
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%d torrent(s) are banned and were not registered (johnlocke unban lifts a ban)", banned)}
}

// clusterFlags are serve's cluster flags (issue 13); all off by default.
func clusterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cluster-listen", Usage: "`ADDR` (host:port) where this node's embedded NATS server accepts routes from other nodes (turns cluster mode on)"},
		&cli.StringSliceFlag{Name: "cluster-peer", Usage: "another node's --cluster-listen `ADDR` (repeatable)"},
		&cli.StringFlag{Name: "cluster-secret-file", Usage: "`PATH` of the shared cluster secret (at least 16 bytes, readable by its owner only); required with any other cluster flag"},
		&cli.StringFlag{Name: "node-name", DefaultText: "the host name up to its first dot", Usage: "this node's `NAME` in the cluster, unique in it (letters, digits, '-', '_')"},
		&cli.StringFlag{Name: "cluster-nats", Usage: "comma-separated `URLS` of NATS servers the operator runs, instead of --cluster-listen and --cluster-peer"},
	}
}

// clusterConfig is serve's cluster mode: Enabled false leaves every other
// field empty and no NATS code runs.
type clusterConfig struct {
	Enabled    bool
	Listen     string
	Peers      []string
	SecretFile string // where Secret was read, for --print-config
	Secret     []byte
	NodeName   string
	NATSURLs   []string
}

// parseClusterConfig checks the cluster flags; a bad combination or value
// is a usage error naming the flag.
func parseClusterConfig(c *cli.Context) (clusterConfig, error) {
	cc := clusterConfig{
		Listen: c.String("cluster-listen"),
		Peers:  c.StringSlice("cluster-peer"),
	}
	if s := c.String("cluster-nats"); s != "" {
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cc.NATSURLs = append(cc.NATSURLs, u)
			}
		}
	}
	secretFile := c.String("cluster-secret-file")
	named := c.IsSet("node-name")
	if cc.Listen == "" && len(cc.Peers) == 0 && len(cc.NATSURLs) == 0 && secretFile == "" && !named {
		return cc, nil
	}
	switch {
	case len(cc.NATSURLs) > 0 && (cc.Listen != "" || len(cc.Peers) > 0):
		return cc, usageError("--cluster-nats is exclusive with --cluster-listen and --cluster-peer: use the operator's NATS servers or the embedded one")
	case len(cc.Peers) > 0 && cc.Listen == "":
		return cc, usageError("--cluster-peer needs --cluster-listen (this node's own route address)")
	case cc.Listen == "" && len(cc.NATSURLs) == 0:
		return cc, usageError("--cluster-secret-file and --node-name need --cluster-listen or --cluster-nats")
	case secretFile == "":
		return cc, usageError("--cluster-secret-file is required in cluster mode (--cluster-listen or --cluster-nats)")
	}
	if cc.Listen != "" {
		if _, _, err := net.SplitHostPort(cc.Listen); err != nil {
			return cc, usageError("--cluster-listen %q: want host:port with a port from 0 to 65535: %v", cc.Listen, err)
		}
		if _, err := net.ResolveTCPAddr("tcp", cc.Listen); err != nil {
			return cc, usageError("--cluster-listen %q: want host:port with a port from 0 to 65535: %v", cc.Listen, err)
		}
	}
	for _, p := range cc.Peers {
		if _, port, err := net.SplitHostPort(p); err != nil || port == "" || port == "0" {
			return cc, usageError("--cluster-peer %q: want host:port of another node's --cluster-listen", p)
		}
	}
	for _, u := range cc.NATSURLs {
		if parsed, err := url.Parse(u); err != nil || parsed.Host == "" {
			return cc, usageError("--cluster-nats %q: want URLs such as nats://host:4222, separated by commas", u)
		}
	}
	cc.NodeName = c.String("node-name")
	if !named {
		cc.NodeName = cluster.DefaultNodeName()
	}
	if err := cluster.CheckNodeName(cc.NodeName); err != nil {
		return cc, usageError("--node-name: %v", err)
	}
	secret, err := cluster.ReadSecretFile(secretFile)
	if err != nil {
		return cc, usageError("--cluster-secret-file: %v", err)
	}
	cc.SecretFile, cc.Secret, cc.Enabled = secretFile, secret, true
	return cc, nil
}

// startCluster joins the cluster cc describes, nil when cluster mode is
// off.
func startCluster(ctx context.Context, cc clusterConfig, st *store.Store, log zerolog.Logger) (*cluster.Node, error) {
	if !cc.Enabled {
		return nil, nil
	}
	n, err := cluster.Start(ctx, cluster.Config{Listen: cc.Listen, Peers: cc.Peers, Secret: cc.Secret,
		NodeName: cc.NodeName, NATSURLs: cc.NATSURLs, Log: log}, st)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return n, nil
}

// clusterDisplay feeds the cluster node's figures to `stats` (the admin
// socket), the status page and /metrics. The admin socket answers before
// the node has joined (a join can take seconds), so the node is handed
// over once Start returns; until then the figures are the node's name
// alone. A nil *clusterDisplay (cluster mode off) shows nothing.
type clusterDisplay struct {
	name    string
	node    atomic.Pointer[cluster.Node]
	tracker *clusterview.Tracker
}

// newClusterDisplay returns nil when cluster mode is off; otherwise its
// tracker samples the node's totals until ctx ends.
func newClusterDisplay(ctx context.Context, cc clusterConfig) *clusterDisplay {
	if !cc.Enabled {
		return nil
	}
	d := &clusterDisplay{name: cc.NodeName}
	d.tracker = clusterview.NewTracker(d.figures)
	go d.tracker.Run(ctx)
	return d
}

// Tracker is what admin.Config and status.Sources take: nil without a
// cluster.
func (d *clusterDisplay) Tracker() *clusterview.Tracker {
	if d == nil {
		return nil
	}
	return d.tracker
}

// joined hands over the node Start returned.
func (d *clusterDisplay) joined(n *cluster.Node) {
	if d != nil && n != nil {
		d.node.Store(n)
	}
}

func (d *clusterDisplay) figures() clusterview.Figures {
	n := d.node.Load()
	if n == nil {
		return clusterview.Figures{NodeName: d.name}
	}
	s := n.Stats()
	f := clusterview.Figures{
		NodeName:       s.Node,
		ChangesSent:    s.ChangesSent,
		ChangesApplied: s.ChangesApplied,
		BatchesLost:    s.BatchesLost,
		ChangesDropped: s.ChangesDropped,
		ChangesRefused: s.ChangesRefused,
		LagP50:         s.LagP50,
		LagMax:         s.LagMax,
	}
	for _, seen := range s.NodesSeen {
		f.Seen = append(f.Seen, clusterview.Peer{Name: seen.Name, LastSeen: seen.LastSeen, Live: seen.Live})
	}
	if s.SnapshotApplied {
		f.SnapshotApplied = s.SnapshotAt
		f.SnapshotRegistryPartial = s.PartialRegistry > 0
	}
	return f
}

// udpWindow turns --udp-window into udp.Config.Window, where zero means the
// default and a negative value never waits.
func udpWindow(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
