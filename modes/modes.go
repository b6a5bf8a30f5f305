// Package modes owns the three swarm modes of johnlocke — small, large and
// surge: which peers a requester is given, how often clients come back, how
// long a silent peer is kept and what a mode persists.
//
// Everything here is pure: no I/O, no clock reads, no goroutines. Callers hand
// in a view of a swarm, the requester, a cap, the current coarse time and a
// random source, and a policy appends chosen peer indices to a caller-owned
// buffer, so a policy allocates nothing.
package modes

import (
	"fmt"
	"time"
)

// Mode is one of the swarm-shaping modes. The zero value, Default, means "the
// server's mode": a torrent registered without a mode follows --mode.
type Mode uint8

// The modes. Their numbers are stored in the database: never renumber them.
const (
	Default Mode = 0
	Small   Mode = 1
	Large   Mode = 2
	Surge   Mode = 3
)

// Parse turns a mode's name into a Mode; "" and "default" give Default.
func Parse(name string) (Mode, error) {
	switch name {
	case "", "default":
		return Default, nil
	case "small":
		return Small, nil
	case "large":
		return Large, nil
	case "surge":
		return Surge, nil
	}
	return Default, fmt.Errorf("unknown mode %q (want small, large or surge)", name)
}

// String returns the mode's name as Parse accepts it.
func (m Mode) String() string {
	switch m {
	case Default:
		return "default"
	case Small:
		return "small"
	case Large:
		return "large"
	case Surge:
		return "surge"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Valid reports whether m is one of the modes this build knows.
func (m Mode) Valid() bool { return m <= Surge }

// Or returns m, or fallback when m is Default.
func (m Mode) Or(fallback Mode) Mode {
	if m == Default {
		return fallback
	}
	return m
}

// PersistsPeers reports whether a mode's peer lists are written to disk.
// Only large does: small promises privacy (no peer list on disk) and surge
// peers are gone within minutes anyway, so writing them would only slow an
// announce storm down.
func (m Mode) PersistsPeers() bool { return m == Large }

// LogsPeers reports whether peer addresses of this mode's torrents may
// appear in logs. Small swarms are private groups: never.
func (m Mode) LogsPeers() bool { return m != Small }

// LeavesOnComplete reports whether a peer that announces "completed" leaves
// the swarm at once. In surge nearly every peer disconnects as soon as it has
// the patch, so keeping it would hand out dead addresses.
func (m Mode) LeavesOnComplete() bool { return m == Surge }

// Timing is how often clients are told to come back and how long a silent
// peer is kept.
type Timing struct {
	Interval    time.Duration
	MinInterval time.Duration
	// PeerTimeout is how long a peer that stopped announcing stays listed.
	PeerTimeout time.Duration
}

// DefaultTiming returns a mode's intervals.
//   - small: short, so a restarted tracker (which keeps no small peers)
//     refills within minutes.
//   - large: long, the usual 30 minutes, with a min interval.
//   - surge: a base the adaptive interval grows from (see SurgeInterval).
func DefaultTiming(m Mode) Timing {
	switch m {
	case Small:
		return timing(2*time.Minute, time.Minute)
	case Surge:
		return timing(10*time.Minute, 5*time.Minute)
	default:
		return timing(30*time.Minute, 5*time.Minute)
	}
}

func timing(interval, minInterval time.Duration) Timing {
	return Timing{Interval: interval, MinInterval: minInterval, PeerTimeout: PeerTimeoutFor(interval)}
}

// PeerTimeoutFor is how long a peer announcing every interval stays listed
// without announcing: two missed announces plus a minute of slack for clock
// coarseness, capped below the age counter's range (MaxAge ticks).
func PeerTimeoutFor(interval time.Duration) time.Duration {
	limit := time.Duration(MaxAge) * Tick
	if interval >= limit/2 { // also keeps 2*interval from overflowing
		return limit
	}
	return min(2*interval+time.Minute, limit)
}

// Tick is the unit of a peer's coarse age. A peer record spends one byte on
// its last-announce time, counted in ticks modulo 256, so ages up to MaxAge
// ticks are exact as long as expired peers are swept more often than that.
const Tick = time.Minute

// MaxAge is the oldest age, in ticks, a one-byte stamp can tell apart from a
// fresh one. Peer timeouts stay below it.
const MaxAge = 240

// TickOf returns the tick counter for t (minutes since the Unix epoch).
func TickOf(t time.Time) uint32 { return uint32(t.Unix() / int64(Tick/time.Second)) }

// Age returns how many ticks ago a one-byte stamp was taken, given the low
// byte of the current tick.
func Age(now, stamp uint8) uint8 { return now - stamp }
