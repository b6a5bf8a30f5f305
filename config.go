package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"
)

// configFlag is serve's --config.
func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config",
		Usage: "read serve's flags from the TOML (.toml) or YAML (.yaml, .yml) file at `PATH`; a flag on the command line or in the environment wins over the file"}
}

// serveCommandFlags are serve's flags (the global ones, serveFlags and
// --config), each wrapped so a config file can set it. The same slice
// must go to the command and to loadConfigFile: altsrc applies file values
// through the flag set each wrapped flag was applied to.
func serveCommandFlags() []cli.Flag {
	fs := append(globalFlags(), serveFlags()...)
	return withConfigFile(append(fs, configFlag()))
}

// withConfigFile wraps every flag of fs with altsrc's flag of its type, so
// that flags added to serveFlags later are covered without a list to keep
// in step. A flag of a type altsrc has no wrapper for is left as it is;
// TestEveryServeFlagFromConfig fails on it.
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
		// --config names the file; help is no setting.
		for _, n := range []string{"config", "help", "h"} {
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
