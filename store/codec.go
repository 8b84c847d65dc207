package store

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Record encoding (schema 4). A record value is its JSON, compressed as one
// Zstandard frame (RFC 8878) against a fixed dictionary of typical records
// (records.dict, dictionary id 1). JSON keeps records easy to extend (new
// fields, omitzero); the dictionary takes the field names and the usual
// values, which are most of a small record's bytes: a message record goes
// from about 620 bytes to about 280 (its hash and Message-IDs are random
// hex), an event from 155 to about 75.
//
// Cases stay plain JSON (putPlainRecord): lookups decode them.
//
// Records written before schema 4 are plain JSON. They are read as they are
// (a JSON value never starts with the Zstandard magic number) and compressed
// when they are next written; bbolt never shrinks a file, so rewriting them
// all would gain nothing until a backup and restore compacts it.
//
// records.dict must never change: every stored record names it. A better
// dictionary gets a new id and is added beside it (RFC 8878 section 5).

//go:embed records.dict
var recordDict []byte

const recordDictID = 1

// zstdMagic starts every Zstandard frame (RFC 8878 section 3.1.1).
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// maxRecord bounds a decoded record: far above any real one (a case with
// every field set is a few KB), so a damaged value cannot make a read
// allocate without bound.
const maxRecord = 16 << 20

var (
	recordEncoder *zstd.Encoder
	recordDecoder *zstd.Decoder
)

func init() {
	var err error
	// EncodeAll and DecodeAll may be called concurrently. Records are only
	// written inside Update, which bbolt serializes, so one encoder (its
	// tables take about 0.5 MB) is enough. No checksum: bbolt has none for
	// its pages either, and a damaged value still fails to decode as JSON.
	recordEncoder, err = zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderDictRaw(recordDictID, recordDict),
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true),
	)
	if err != nil {
		panic("store: record encoder: " + err.Error())
	}
	recordDecoder, err = zstd.NewReader(nil,
		zstd.WithDecoderDictRaw(recordDictID, recordDict),
		zstd.WithDecoderMaxMemory(maxRecord),
		zstd.WithDecoderConcurrency(0),
	)
	if err != nil {
		panic("store: record decoder: " + err.Error())
	}
}

// encodeRecord returns the stored form of v.
func encodeRecord(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return recordEncoder.EncodeAll(data, make([]byte, 0, len(data)/2)), nil
}

// recordJSON returns the JSON of a stored record, decompressed if it is
// compressed. The result may be data itself (plain JSON of schema 3 and
// older), so callers must not keep it beyond data's lifetime.
func recordJSON(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, zstdMagic) {
		return data, nil // schema 3 and older: plain JSON (never starts with 0x28)
	}
	plain, err := recordDecoder.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return plain, nil
}

// decodeRecord decodes a stored record into v. It never keeps a reference to
// data (which may point into bbolt's mmap).
func decodeRecord(data []byte, v any) error {
	plain, err := recordJSON(data)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}
