package announce

import "johnlocke/store"

// The failures the wire layer itself can answer with. They are store.Failure
// values, so every client-facing message, whoever produced it, has one type
// and a fixed text; no client input is ever echoed back.
const (
	ErrMissingInfoHash     store.Failure = "missing info_hash"
	ErrInvalidInfoHash     store.Failure = "invalid info_hash" // same text as store.ErrInvalidInfoHash
	ErrConflictingInfoHash store.Failure = "more than one info_hash in an announce"
	ErrMissingPeerID       store.Failure = "missing peer_id"
	ErrInvalidPeerID       store.Failure = "invalid peer_id"
	ErrMissingPort         store.Failure = "missing port"
	ErrInvalidPort         store.Failure = "invalid port"
	ErrInvalidUploaded     store.Failure = "invalid uploaded"
	ErrInvalidDownloaded   store.Failure = "invalid downloaded"
	ErrMissingLeft         store.Failure = "missing left"
	ErrInvalidLeft         store.Failure = "invalid left"
	ErrInvalidEvent        store.Failure = "invalid event"
	ErrInvalidNumWant      store.Failure = "invalid numwant"
	ErrInvalidCompact      store.Failure = "invalid compact"
	ErrDuplicateParam      store.Failure = "conflicting duplicate parameter"
	ErrBadEscape           store.Failure = "malformed percent-encoding"
	ErrTooManyInfoHashes   store.Failure = "too many info_hash values in one scrape"
	ErrFullScrape          store.Failure = "full scrape is not supported"
	ErrBadForwardedAddr    store.Failure = "invalid forwarded client address"
	// ErrUnusableForwardedAddr: a trusted proxy reported an unspecified,
	// multicast or broadcast address.
	ErrUnusableForwardedAddr store.Failure = "forwarded client address is not a unicast address"
	ErrNoClientAddr          store.Failure = "cannot determine client address"
	ErrInternal              store.Failure = "internal error"
)
