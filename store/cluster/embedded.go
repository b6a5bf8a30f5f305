package cluster

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// clusterName is the NATS cluster every node's embedded server joins.
const clusterName = "johnlocke"

// serverReadyWithin bounds how long an embedded server may take to start.
const serverReadyWithin = 10 * time.Second

// startEmbedded starts the embedded NATS server: routes on cfg.Listen with
// credentials derived from the secret, routes out to cfg.Peers with the
// same credentials, so a node with another secret is refused by its peers
// and refuses them. This process connects in-process; the client port
// (which nats-server needs open for routing to start: with DontListen,
// StartRouting waits forever for it) is on a random loopback port and
// takes only a password derived from the secret.
func startEmbedded(cfg *Config) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("cluster listen address %q: bad port", cfg.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT // NATS reads 0 as "no cluster"
	}
	user, password := routeCredentials(cfg.Secret)
	// The server keeps only a hash of the client password (and says so
	// otherwise, at warning level). The password is 256 bits derived from
	// the secret, so bcrypt's lowest cost is plenty.
	clientHash, err := bcrypt.GenerateFromPassword([]byte(clientPassword(cfg.Secret)), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	opts := &server.Options{
		ServerName: cfg.NodeName,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		Username:   clientUser,
		Password:   string(clientHash),
		NoSigs:     true,
		Cluster: server.ClusterOpts{
			Name:     clusterName,
			Host:     host,
			Port:     port,
			Username: user,
			Password: password,
		},
	}
	for _, p := range cfg.Peers {
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", User: url.UserPassword(user, password), Host: p})
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLog{cfg.Log.With().Str("nats", cfg.NodeName).Logger()}, true, false, false)
	ns.Start()
	if !ns.ReadyForConnections(serverReadyWithin) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server on %s: not ready within %v", cfg.Listen, serverReadyWithin)
	}
	return ns, nil
}

// natsLog passes the embedded server's log to zerolog. Its notices are
// routine (routes coming and going), so they go out at debug level with
// its debug output; its warnings and errors keep their level, since a
// refused route (a wrong secret) is something the operator must see.
type natsLog struct{ log zerolog.Logger }

func (l natsLog) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l natsLog) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l natsLog) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLog) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLog) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l natsLog) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
