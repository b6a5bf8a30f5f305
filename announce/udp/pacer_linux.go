//go:build linux

package udp

import (
	"context"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"johnlocke/announce/pace"
)

// waiter hands b's socket to a pace.Waiter, which reads it with doRead.
// On success the caller must close the net.UDPConn b was made from: that
// takes its descriptor out of Go's poller, and the Waiter owns the socket.
func (b *batchConn) waiter(window time.Duration) (*pace.Waiter, error) {
	var w *pace.Waiter
	var werr error
	if err := b.rc.Control(func(fd uintptr) { w, werr = pace.New(fd, window, b.readFn) }); err != nil {
		return nil, err
	}
	return w, werr
}

// servePaced is serveBatches' loop on a socket w owns: while datagrams
// come faster than pace.EnterPerWindow per window, each read waits for
// the window to pass and takes what gathered meanwhile (see package pace
// for why; the figures are beside DefaultWindow). Close and ctx stop w
// instead of closing conn, whose descriptor is closed already.
func (s *Server) servePaced(ctx context.Context, conn *net.UDPConn, b *batchConn, h *handler, w *pace.Waiter) error {
	defer w.Release()
	if !s.setStopper(conn, w.Stop) {
		return nil
	}
	stop := context.AfterFunc(ctx, w.Stop)
	defer stop()
	var delay time.Duration
	for {
		b.got, b.err = 0, nil
		paced := w.Paced()
		err := w.Wait()
		if err == nil {
			err = w.Count(b.got, b.got == batchSize)
		}
		if err == nil {
			err = b.err
		}
		if err != nil {
			if again, err := s.readFailed(ctx, conn, err, &delay); !again {
				return err
			}
			continue
		}
		delay = 0
		if paced {
			s.pacedReads.Add(1)
		}
		if b.got == 0 {
			continue
		}
		b.answerAll(h, b.got, epochOf(s.now()))
		b.writeTo(w.Socket())
		if b.sendErrs > 0 {
			s.log.Debug().Err(os.NewSyscallError("sendmmsg", b.lastErr)).Int("answers", b.sendErrs).Msg("udp write failed")
			b.sendErrs, b.lastErr = 0, nil
		}
	}
}

// writeTo sends every queued answer on sock, which is not in Go's poller:
// an answer the kernel has no room for is skipped and counted in sendErrs
// like one it refuses (there is nothing to wait on, and the client
// retransmits, as BEP 15 asks).
func (b *batchConn) writeTo(sock uintptr) {
	if !b.doWrite(sock) {
		b.sendErrs += b.queued - b.done
		b.lastErr = unix.EAGAIN
	}
	b.queued, b.done = 0, 0
}
