package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"johnlocke/store"
	"johnlocke/store/admin"
)

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
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), false)
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
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), false)
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
	reg, err := admin.OpenRegistry(globalString(c, "db"), globalString(c, "admin"), true)
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
