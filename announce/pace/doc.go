// Package pace lets a busy socket's arrivals gather for a window before
// its one reader takes them, so that one round of system calls serves
// several announces instead of one or two (Linux only: Waiter is built on
// timerfd; elsewhere the package is empty and readers read as datagrams
// arrive).
//
// Why: at an everyday rate datagrams from independent clients arrive one
// at a time (25 µs apart at 40,000 UDP announces/s), a reader that reads
// whenever something waits finds one or two, and each pays a wake-up, the
// read that finds nothing, and two calls into Go's poller on top of its
// own work. A Waiter paces only while arrivals come faster than
// EnterPerWindow per window, so a quiet tracker still answers each one as
// it arrives; while it paces it adds up to one window of latency.
//
// The UDP reader uses it. The HTTP accept loop was measured paced too and
// does not: a new connection's cost is the kernel's TCP work, which
// pacing does not reduce (see acceptRaw in package announce).
package pace
