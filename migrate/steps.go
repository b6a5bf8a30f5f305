package migrate

import (
	"go.etcd.io/bbolt"
)

// Step is one upgrade from version From to From+1.
type Step struct {
	From        int
	Description string
	// Apply changes the file in the transaction Up gives it; Up then records
	// From+1 in the same transaction, so the step and the new number commit
	// together or not at all.
	Apply func(tx *bbolt.Tx) error
}

// steps is the migration history. Index i upgrades schema i to i+1, and
// len(steps) == Current.
//
// How to add schema N+1 (the pattern every version follows):
//
//  1. Before changing anything, make sure testdata/db/schema-N.db (the
//     fixture of the current version) is committed. It is the reference
//     file the new step will be tested against, so never regenerate it
//     afterwards: the code that wrote it is about to change.
//  2. Append a Step{From: N, ...} here and bump Current to N+1. A step only
//     reshapes data already in the file; it must not depend on the
//     configuration or on other packages' types, since it must keep working
//     unchanged for as long as files at schema N may exist.
//  3. Write a test that copies testdata/db/schema-N.db to a temporary
//     directory, runs Up on the copy and checks what the step did. The
//     generic TestFixturesUpgrade already runs every committed fixture up to
//     Current and checks the made-up torrent survives.
//  4. Generate the new fixture with
//     JOHNLOCKE_WRITE_FIXTURES=1 go test ./migrate -run TestWriteFixtures
//     and commit testdata/db/schema-(N+1).db next to the older ones.
//
// Steps are never edited or removed once released: a file written by any
// past johnlocke must reach Current by running them in order.
var steps = []Step{
	{
		From:        0,
		Description: "create the meta, torrents and swarms buckets",
		Apply: func(tx *bbolt.Tx) error {
			for _, name := range [][]byte{BucketMeta, BucketTorrents, BucketSwarms} {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			// Up records the version after every step too; writing it here
			// keeps step 0 alone sufficient to make a johnlocke database.
			return putSchema(tx, 1)
		},
	},
	{
		From:        1,
		Description: "create the banned bucket (the deny list of `remove --ban`)",
		Apply: func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket(BucketBanned)
			return err
		},
	},
}

// Steps is the ordered list (index i upgrades i -> i+1). Step 0 (0 -> 1)
// creates the three buckets and writes the schema version: it is how a
// brand-new, empty file becomes a johnlocke database. The slice is a copy.
func Steps() []Step {
	return append([]Step(nil), steps...)
}
