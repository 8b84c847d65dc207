package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// maxIndexKey bounds strings taken from mail (Message-IDs, addresses) that
// become index keys. bbolt refuses keys over 32 KiB, and one hostile header
// must not make a whole transaction fail.
const maxIndexKey = 998 // RFC 5322 section 2.1.1: the longest allowed line

// itob encodes a sequence number as an 8-byte big-endian key.
func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// pair returns the 16-byte key a(8) b(8).
func pair(a, b uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, a)
	binary.BigEndian.PutUint64(k[8:], b)
	return k
}

// timeKeyLen is the length of an encoded time in keys.
const timeKeyLen = 12

// putTime writes t as 12 bytes that sort in time order: Unix seconds with the
// sign bit flipped (so negative seconds sort first), then nanoseconds.
func putTime(b []byte, t time.Time) {
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}

func getTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

// dueKey is the outdue index key: time12(next) id8.
func dueKey(next time.Time, id uint64) []byte {
	k := make([]byte, timeKeyLen+8)
	putTime(k, next)
	binary.BigEndian.PutUint64(k[timeKeyLen:], id)
	return k
}

// strPrefix returns s 0x00; keys made from it are s 0x00 followed by a fixed
// number of bytes, checked by length when scanning (see the package comment).
func strPrefix(s string, extra int) []byte {
	k := make([]byte, len(s)+1, len(s)+1+extra)
	copy(k, s)
	return k
}

// hashKey decodes a lowercase hex SHA-256 into its 32-byte index key.
func hashKey(h string) ([]byte, bool) {
	if !validHash(h) {
		return nil, false
	}
	k, err := hex.DecodeString(h)
	return k, err == nil
}

// validHash reports whether h is exactly 64 lowercase hex digits.
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// NormalizeMessageID returns a Message-ID as stored and indexed: surrounding
// spaces and one pair of angle brackets removed. The rest is kept exactly
// (RFC 5322 section 3.6.4: ids are compared as strings).
func NormalizeMessageID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	return strings.TrimSpace(id)
}

// msgIDKeyLen is the length of a Message-ID index key: the first 16 bytes of
// the id's SHA-256 (schema 4). Random keys fill their pages to about two
// thirds; a fixed 16-byte key instead of the id itself (60 bytes and more)
// halves the index, and it no longer holds the ids' addresses in the clear.
// 128 bits make a collision between two ids practically impossible.
const msgIDKeyLen = 16

// msgIDKey returns the index key of a Message-ID, or false when it cannot be
// indexed.
func msgIDKey(id string) ([]byte, bool) {
	id = NormalizeMessageID(id)
	// QUIRK: empty or absurdly long Message-IDs from broken or hostile mail
	// are simply not indexed; threading falls back to the case tag.
	if id == "" || len(id) > maxIndexKey {
		return nil, false
	}
	return msgIDHash(id), true
}

// msgIDHash is the index key of an already normalized Message-ID.
func msgIDHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:msgIDKeyLen]
}

// normRef returns the index key form of a case Ref.
func normRef(r string) string { return strings.ToLower(strings.TrimSpace(r)) }

// normAddr returns the normalized (lowercase, trimmed) form of an address.
func normAddr(a string) string {
	return strings.ToLower(strings.TrimSpace(a))
}

// putRecord stores v at key in the record encoding (codec.go).
func putRecord(b *bbolt.Bucket, key []byte, v any) error {
	data, err := encodeRecord(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// putPlainRecord stores v at key as plain JSON, which decodeRecord reads as
// well. Cases are stored so: every lookup (by id, Ref or Message-ID) and
// every listing decodes one, and decompressing would add about 2 µs to the
// 5 µs of a lookup, while the case is only one of a case's ~25 records.
func putPlainRecord(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return b.Put(key, data)
}

// getRecord decodes the record at key into v; decoding copies, so v never
// points into the mmap. It reports false if the key is absent.
func getRecord(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := decodeRecord(data, v); err != nil {
		return true, fmt.Errorf("%x: %w", key, err)
	}
	return true, nil
}
