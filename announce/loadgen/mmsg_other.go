//go:build !linux

package loadgen

import "net"

// udpIO moves datagrams one system call each where sendmmsg and recvmmsg
// are not available.
type udpIO struct {
	conn *net.UDPConn
	in   [1][udpBufferSize]byte
	n    int
}

func newUDPIO(conn *net.UDPConn) (*udpIO, error) { return &udpIO{conn: conn}, nil }

// writeAll sends every datagram of pkts, in order.
func (u *udpIO) writeAll(pkts [][]byte) error {
	for _, p := range pkts {
		if _, err := u.conn.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// readSome waits (until the read deadline) for one datagram.
func (u *udpIO) readSome(int) (int, error) {
	n, err := u.conn.Read(u.in[0][:])
	if err != nil {
		return 0, err
	}
	u.n = n
	return 1, nil
}

// datagram returns the datagram of the last readSome.
func (u *udpIO) datagram(int) []byte { return u.in[0][:u.n] }
