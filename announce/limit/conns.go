package limit

import "sync"

// maxIdleSources bounds the table entries Conns keeps for sources holding
// no connection. They are kept, not deleted, so that a client reconnecting
// (every announce is a new connection for most clients) finds its entry
// and the accept path allocates nothing; past this many they are swept in
// one pass, so many addresses passing through cannot grow the table for
// ever. 16 Ki entries are a few hundred KiB.
const maxIdleSources = 1 << 14

// Conns counts the connections each source holds and refuses one past its
// share, so that one address cannot hold every connection slot of a
// listener. It takes a mutex twice per connection (accept and close), never
// per request. The zero value is not usable; call NewConns.
type Conns struct {
	perSource int32

	mu   sync.Mutex
	held map[Source]int32
	idle int // entries of held at zero
}

// NewConns returns a table allowing perSource connections per source;
// perSource below 1 is taken as 1.
func NewConns(perSource int) *Conns {
	return &Conns{perSource: int32(max(1, min(perSource, 1<<30))), held: make(map[Source]int32)}
}

// PerSource returns the connections one source may hold.
func (c *Conns) PerSource() int { return int(c.perSource) }

// Acquire counts one more connection from src and reports whether it is
// within src's share. When it is not, nothing is counted and the caller
// closes the connection.
func (c *Conns) Acquire(src Source) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.held[src]
	if n >= c.perSource {
		return false
	}
	if ok && n == 0 {
		c.idle--
	}
	c.held[src] = n + 1
	return true
}

// Release gives back one connection that Acquire counted for src.
func (c *Conns) Release(src Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.held[src]
	if !ok || n == 0 {
		return // not ours to release: a caller bug, but never a negative count
	}
	c.held[src] = n - 1
	if n == 1 {
		c.idle++
		if c.idle > maxIdleSources {
			c.sweep()
		}
	}
}

// Held returns how many connections src holds.
func (c *Conns) Held(src Source) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.held[src])
}

// sweep deletes the entries of sources holding no connection. c.mu must be
// held. It runs once per maxIdleSources sources that went idle, so its
// cost per connection stays constant.
func (c *Conns) sweep() {
	for src, n := range c.held {
		if n == 0 {
			delete(c.held, src)
		}
	}
	c.idle = 0
}
