package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"johnlocke/store"
	"johnlocke/store/cluster"
)

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
	Enabled  bool
	Listen   string
	Peers    []string
	Secret   []byte
	NodeName string
	NATSURLs []string
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
	cc.Secret, cc.Enabled = secret, true
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
