package cluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Bounds and defaults of a node.
const (
	// MinSecretLen is the shortest cluster secret accepted: 16 bytes is
	// 128 bits when the operator draws it at random, and anything shorter
	// can be guessed against the route port.
	MinSecretLen = 16
	// MaxNodeNameLen bounds a node name: it travels in every batch header
	// (one length byte) and names a subject.
	MaxNodeNameLen = 64
	// DefaultJoinTimeout bounds how long Start waits for another node to
	// answer the snapshot request before serving from the file alone: a
	// route comes up within a second or two, so a peer that has not
	// answered in five is not there.
	DefaultJoinTimeout = 5 * time.Second
	// DefaultPublishInterval is how often captured changes are sent: a
	// tenth of a second keeps replication lag far below a client's
	// announce interval while batching changes into full packets.
	DefaultPublishInterval = 100 * time.Millisecond
	// liveWithin is how recently a node must have been heard to count as
	// seen: five missed heartbeats.
	liveWithin = 5 * time.Second
	// DefaultSinceMargin widens the window a rejoining node asks about
	// back from its last write: changes in flight when it stopped, and
	// the difference between its clock and the answering node's (whose
	// journal times are on its own clock). A minute is far more than
	// either on hosts that keep time.
	DefaultSinceMargin = time.Minute
	// heartbeatEvery is how often a node says hello.
	heartbeatEvery = time.Second
)

// Config configures a node.
type Config struct {
	// Listen is the host:port where the embedded NATS server accepts
	// routes from other nodes ("" with NATSURLs).
	Listen string
	// Peers are other nodes' Listen addresses.
	Peers []string
	// Secret is the shared cluster secret (at least MinSecretLen bytes):
	// route credentials and the UDP connection-id key derive from it.
	Secret []byte
	// NodeName names this node; unique in the cluster.
	NodeName string
	// NATSURLs are NATS servers the operator runs, instead of the
	// embedded server (exclusive with Listen and Peers).
	NATSURLs []string
	Log      zerolog.Logger
	// JoinTimeout bounds the wait for a snapshot; 0 means
	// DefaultJoinTimeout, a negative value asks for none.
	JoinTimeout time.Duration
	// PublishInterval is how often captured changes are sent; 0 means
	// DefaultPublishInterval.
	PublishInterval time.Duration
	// SinceMargin is how far before its last write a rejoining node asks
	// for changes; 0 means DefaultSinceMargin.
	SinceMargin time.Duration
}

// check validates cfg and fills its defaults.
func (cfg *Config) check() error {
	if len(cfg.Secret) < MinSecretLen {
		return fmt.Errorf("cluster secret of %d bytes: want at least %d", len(cfg.Secret), MinSecretLen)
	}
	if err := CheckNodeName(cfg.NodeName); err != nil {
		return err
	}
	switch {
	case len(cfg.NATSURLs) > 0 && (cfg.Listen != "" || len(cfg.Peers) > 0):
		return errors.New("NATS servers and an embedded server's listen address or peers are exclusive")
	case len(cfg.NATSURLs) == 0 && cfg.Listen == "":
		return errors.New("neither a listen address for the embedded NATS server nor NATS server URLs")
	}
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	if cfg.PublishInterval <= 0 {
		cfg.PublishInterval = DefaultPublishInterval
	}
	if cfg.SinceMargin <= 0 {
		cfg.SinceMargin = DefaultSinceMargin
	}
	return nil
}

// CheckNodeName tells whether name can name a node: 1 to MaxNodeNameLen
// letters, digits, '-' and '_' (it is a NATS subject token).
func CheckNodeName(name string) error {
	if name == "" || len(name) > MaxNodeNameLen {
		return fmt.Errorf("node name %q: want 1 to %d characters", name, MaxNodeNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("node name %q: only letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

// DefaultNodeName is the host's name up to its first dot (a node name
// is a subject token), or "johnlocke" when it has none usable.
func DefaultNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		return "johnlocke"
	}
	h, _, _ = strings.Cut(h, ".")
	if CheckNodeName(h) != nil {
		return "johnlocke"
	}
	return h
}

// ReadSecretFile reads the cluster secret from path: its content with
// surrounding white space trimmed, at least MinSecretLen bytes, in a file
// that neither group nor others may read (as ssh insists of a private
// key).
func ReadSecretFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible by group or others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%s holds %d bytes: want at least %d", path, len(secret), MinSecretLen)
	}
	return secret, nil
}

// derive returns HMAC-SHA256(secret, label): a key for one purpose that
// tells nothing of the secret or of the keys for other purposes.
func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// ConnectionIDKey returns the UDP connection-id key of a cluster (32
// bytes): every node derives the same one, so a connection id a client
// got from one node is valid on the others.
func ConnectionIDKey(secret []byte) []byte {
	return derive(secret, "johnlocke udp connection id v1")
}

// routeCredentials are the user and password every node's embedded
// server requires of a route, and presents to its peers.
func routeCredentials(secret []byte) (user, password string) {
	return "johnlocke", hex.EncodeToString(derive(secret, "johnlocke nats route password v1"))
}

// clientUser is the user this process connects to its embedded server as.
const clientUser = "johnlocke-node"

// clientPassword is the password of the embedded server's loopback client
// port: only this process (and whoever holds the secret) can use it.
func clientPassword(secret []byte) string {
	return hex.EncodeToString(derive(secret, "johnlocke nats client password v1"))
}
