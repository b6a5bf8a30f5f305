package store

// Failure is an error whose text is fit to send to a client as a bencoded
// "failure reason" or a UDP error packet. Its values are fixed messages, so a
// caller can compare them and no client input is ever echoed back.
type Failure string

func (f Failure) Error() string { return string(f) }

// The failures an announce or scrape can end in.
const (
	ErrUnregistered    Failure = "unregistered torrent"
	ErrTorrentLimit    Failure = "tracker is full: no new torrents accepted"
	ErrInvalidInfoHash Failure = "invalid info_hash"
)
