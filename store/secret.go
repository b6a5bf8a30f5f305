package store

import (
	"crypto/rand"
	"fmt"

	"go.etcd.io/bbolt"

	"johnlocke/migrate"
)

// Secret returns the random secret stored under name in the meta bucket,
// creating one of size bytes the first time. Keeping secrets in the file
// (the UDP connection-id key, for one) means a restart does not invalidate
// what clients hold.
func (d *DB) Secret(name string, size int) ([]byte, error) {
	key := []byte("secret/" + name)
	var secret []byte
	err := d.bolt.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(migrate.BucketMeta).Get(key); len(v) == size {
			secret = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil || secret != nil {
		return secret, err
	}
	err = d.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(migrate.BucketMeta)
		if v := b.Get(key); len(v) == size {
			secret = append([]byte(nil), v...)
			return nil
		}
		secret = make([]byte, size)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		return b.Put(key, secret)
	})
	if err != nil {
		return nil, fmt.Errorf("secret %s in %s: %w", name, d.path, err)
	}
	return secret, nil
}
