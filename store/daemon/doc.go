// Package daemon owns the life of the `serve` process around the tracker:
// detaching into the background (Background re-executes the program in a
// new session and waits on a readiness pipe), the pid file, the log file
// that SIGHUP reopens, the logger written to it, SIGINT, SIGTERM and SIGHUP
// while serving, telling a waiting parent or systemd that the tracker is
// ready or failed, and the version string that names the build.
//
// It takes plain values (Options), never command-line flags, and knows
// nothing of torrents, swarms, the database or the admin socket beyond a
// path to remove on a forced exit. It never calls os.Exit: a failure comes
// back as an error (an *ExitError from Background) and a forced exit as a
// call to the caller's Options.Abort. Its messages still name serve's
// flags (--daemon, --pidfile), the knobs an operator can turn.
package daemon
