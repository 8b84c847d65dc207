package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// Every compressed record names dictionary 1: changing records.dict would
// make every stored record unreadable. A better dictionary gets a new id.
func TestRecordDictUnchanged(t *testing.T) {
	const want = "9b5c132c29f2d59c27a70e8fcd45c2a313a5712f09158ae4d18e55ac7708909a"
	if got := sha256.Sum256(recordDict); hex.EncodeToString(got[:]) != want {
		t.Errorf("sha256(records.dict) = %x, want %s: add a new dictionary with a new id instead", got, want)
	}
}

// A record compresses well below its JSON: the point of the encoding.
func TestRecordSmallerThanJSON(t *testing.T) {
	m := &Message{ID: 123453, CaseID: 12345, Direction: "in", Hash: sum("raw"), Size: 20_000,
		MessageID: benchMsgID("a"), InReplyTo: []string{benchMsgID("b")}, From: "researcher12345@example.org",
		To: []string{"security@example.com"}, Subject: "Re: [SEC-2026-0001] Stored XSS in the admin panel",
		Date: t0, Received: t0, Class: "follow-up", Source: "imap:INBOX:1700000000:1234503"}
	for _, v := range []any{m, Event{Time: t0, Kind: "message.received", Actor: m.From, Detail: "matched by message-id", MessageID: 1}} {
		plain, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		data, err := encodeRecord(v)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > len(plain)*6/10 {
			t.Errorf("encodeRecord(%T) = %d bytes, want at most 60%% of its JSON (%d bytes)", v, len(data), len(plain))
		}
	}
}
