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
	// ErrAddrTorrentLimit refuses a new torrent to an address that holds
	// its share of organic registrations (--max-torrents-per-ip).
	ErrAddrTorrentLimit Failure = "too many new torrents from your address"
	// ErrNotStoring refuses a new torrent while the database cannot be
	// written (a full disk): it would live in memory only.
	ErrNotStoring Failure = "tracker cannot store new torrents now"
)
