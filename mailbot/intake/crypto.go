package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp"

	"mailbot/mailbot/parse"
	"mailbot/mailbot/pgp"
	"mailbot/store"
)

// cryptoFacts is what OpenPGP processing learned about one message.
type cryptoFacts struct {
	encrypted      bool
	signed         bool
	signatureValid bool
	signer         string   // fingerprint of a known signer
	noKey          bool     // encrypted to a key we do not hold
	damaged        bool     // integrity or format failure
	tooLarge       bool     // an encrypted part over the decryption limit
	keyIDs         []string // recipients of undecryptable data
	reason         string   // why decryption failed, for the team
	doubt          string   // a block found as ciphertext that is not encrypted, and why
	plainText      string   // text of the decrypted parts, kept apart from the rest (EFAIL)
	cipherHashes   []string // SHA-256 of each ciphertext block, to spot replays
	keys           [][]byte // public keys offered by the sender (attached, Autocrypt, or inside the encrypted part)
	signedKeys     [][]byte // those of keys inside data validly signed by the sender's known key
}

func (c cryptoFacts) unreadable() bool { return c.noKey || c.damaged || c.tooLarge }

func (c cryptoFacts) apply(m *store.Message) {
	m.Encrypted = c.encrypted
	m.Signed = c.signed
	m.SignatureValid = c.signatureValid
	m.SignerFingerprint = c.signer
	if c.reason != "" {
		m.Reason = c.reason
	}
}

// text is what the report says, subject included (see body).
func (in *incoming) text() string { return in.msg.Subject + "\n" + in.body() }

// body is what the report says without its subject: the decrypted text
// when it was encrypted, else the plain text body. Decrypted text is never
// joined with the plaintext around it (EFAIL).
func (in *incoming) body() string {
	if in.crypto.encrypted {
		return in.crypto.plainText
	}
	return in.msg.Text
}

// senderKeys are the sender's keys we already hold: only they can make a
// signature valid. A key attached to the same message proves nothing about
// who signed it.
func (l *Line) senderKeys(addr string) openpgp.EntityList {
	if addr == "" {
		return nil
	}
	var armored []byte
	l.store.View(func(tx *store.Tx) error {
		armored, _ = tx.Key(addr)
		return nil
	})
	if armored == nil {
		return nil
	}
	keys, err := pgp.ParseKeys(armored)
	if err != nil {
		return nil
	}
	return keys
}

// openCrypto decrypts and verifies the OpenPGP parts of in.msg. Each block
// is decrypted on its own; the first failure decides the answer.
//
// Blocks are streamed from the raw message (parse records where they are),
// and so is their plaintext: a decrypted MIME entity is parsed as it is
// decrypted (text kept up to the parse limit, attachments hashed and
// dropped), other plaintext is kept as text up to the same limit. Nothing
// read from the plaintext is used unless the whole of it was read and its
// MDC or AEAD tag checked (EFAIL): on any error the block gives no text.
func (l *Line) openCrypto(in *incoming, raw func() (io.ReadCloser, error)) {
	m := in.msg
	c := &in.crypto
	c.keys = append(c.keys, m.Keys...)
	if v := m.Header.Get("Autocrypt"); v != "" {
		if addr, keys, err := pgp.ParseAutocrypt(v); err == nil && strings.EqualFold(addr, in.from) {
			if armored, err := pgp.Armor(keys); err == nil {
				c.keys = append(c.keys, armored)
			}
		}
	}
	verify := l.senderKeys(in.from)
	if m.PGPDropped > 0 {
		// Never silently: the team must learn that part of it stayed unread.
		c.encrypted, c.tooLarge = true, true
		c.reason = fmt.Sprintf("%d encrypted part(s) over the %d byte decryption limit: not decrypted", m.PGPDropped, l.parseLimits().MaxPGPBytes)
	}
	if len(m.PGP) == 0 {
		if m.Signed {
			l.verifySigned(in, raw, verify)
		}
		return
	}
	src, err := openReaderAt(raw)
	if err != nil {
		// The spool file is gone or unreadable: say so rather than guess.
		c.encrypted, c.damaged = true, true
		c.reason = "cannot read the raw message again: " + err.Error()
		return
	}
	defer src.Close()
	// Every block below marks the message encrypted, and then text() never
	// uses the text around the blocks (EFAIL): let it go before decrypting
	// (it may be MaxTextBytes of armor).
	around := m.Text
	m.Text = ""
	var texts, clear []string
	for i := range m.PGP {
		b := &m.PGP[i]
		open := func() (io.Reader, error) { return b.Open(src), nil }
		sum := sha256.New()
		if _, err := io.Copy(sum, b.Open(src)); err != nil {
			c.encrypted, c.damaged = true, true
			c.reason = "cannot read the encrypted part: " + err.Error()
			continue
		}
		var st *pgp.Stream
		err := errClearsigned
		if !isClearsigned(b.Open(src)) {
			if l.keys == nil {
				c.cipherHashes = append(c.cipherHashes, hex.EncodeToString(sum.Sum(nil)))
				c.encrypted, c.noKey = true, true
				c.reason = "encrypted, but the bot has no key configured"
				continue
			}
			st, err = l.keys.DecryptStream(open, verify, pgp.Options{MaxSize: int64(l.parseLimits().MaxPGPBytes), Now: l.now})
		}
		if errors.Is(err, pgp.ErrNotEncrypted) {
			// A block that is not encrypted (a cleartext-signed text,
			// signed-only data) is never taken for encrypted: its text is
			// read as unverified plain text and the team learns why.
			c.doubt = fmt.Sprintf("a part found as OpenPGP (%s) is not encrypted (%v): read as plain text, its signature not checked", b.Kind, err)
			if b.Kind != "inline" {
				var text plainSink
				text.max = l.parseLimits().MaxTextBytes
				if _, err := io.Copy(&text, b.Open(src)); err == nil {
					if t, ok := text.text(); ok {
						clear = append(clear, t)
					}
				}
			}
			continue
		}
		c.cipherHashes = append(c.cipherHashes, hex.EncodeToString(sum.Sum(nil)))
		c.encrypted = true
		if err != nil {
			c.decryptFailed(err)
			continue
		}
		// Until st.Close returns nil, inner and text are unverified.
		var inner *parse.Message
		var perr error
		var text plainSink
		mime := b.Kind == "pgp-mime" || b.Kind == "mixed-up"
		if mime {
			inner, perr = parse.Parse(st, l.parseLimits())
		} else {
			text.max = l.parseLimits().MaxTextBytes
			_, perr = io.Copy(&text, st)
		}
		res, err := st.Close()
		if err != nil {
			c.decryptFailed(err)
			continue
		}
		if res.Signed {
			c.signed = true
			if res.SignatureValid {
				c.signatureValid, c.signer = true, res.SignerFingerprint
			}
		}
		if !mime {
			if t, ok := text.text(); perr == nil && ok {
				texts = append(texts, t)
			}
			continue
		}
		if perr != nil {
			c.damaged = true
			c.reason = "the decrypted part is not a readable MIME entity: " + perr.Error()
			continue
		}
		texts = append(texts, inner.Text)
		m.Attachments = append(m.Attachments, inner.Attachments...)
		c.keys = append(c.keys, inner.Keys...)
		if res.SignatureValid {
			c.signedKeys = append(c.signedKeys, inner.Keys...)
		}
		// RFC 9788 section 4.3: the protected Subject is the real one.
		if inner.Header.Has("Subject") {
			m.Subject = inner.Subject
		}
		if inner.Signed && !c.signed {
			c.signed = true // an inner multipart/signed: verified below against raw bytes is not possible; recorded as signed
		}
	}
	if c.unreadable() {
		texts = nil
	}
	c.plainText = strings.Join(texts, "\n\n")
	if !c.encrypted {
		// No block was encrypted after all: the message is plain text.
		m.Text = strings.Join(append([]string{around}, clear...), "\n\n")
		if c.reason == "" {
			c.reason = c.doubt
		}
	}
}

// errClearsigned is a block found as ciphertext that is a cleartext-signed
// text (RFC 9580 section 7), told apart without any key.
var errClearsigned = fmt.Errorf("%w: a cleartext-signed text", pgp.ErrNotEncrypted)

// isClearsigned reports whether an armored block is a cleartext-signed
// text: its armor header line is "BEGIN PGP SIGNED MESSAGE" (RFC 9580
// section 7; leading white space tolerated).
func isClearsigned(r io.Reader) bool {
	head := make([]byte, 64)
	n, _ := io.ReadFull(r, head)
	return bytes.HasPrefix(bytes.TrimLeft(head[:n], " \t\r\n"), []byte("-----BEGIN PGP SIGNED MESSAGE-----"))
}

// decryptFailed records why a block could not be decrypted.
func (c *cryptoFacts) decryptFailed(err error) {
	var nk *pgp.NoKeyError
	if errors.As(err, &nk) {
		c.noKey = true
		c.keyIDs = append(c.keyIDs, nk.KeyIDs...)
		c.reason = fmt.Sprintf("encrypted to a key we do not hold (%s)", strings.Join(nk.KeyIDs, ", "))
		return
	}
	c.damaged = true
	c.reason = "cannot decrypt: " + err.Error()
}

// readerAtCloser is the raw message, open for reading at any offset.
type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

// openReaderAt opens the raw message for PGPBlock.Open. The store hands out
// files; anything else is read into memory (bounded by the spool limit).
func openReaderAt(raw func() (io.ReadCloser, error)) (readerAtCloser, error) {
	rc, err := raw()
	if err != nil {
		return nil, err
	}
	if ra, ok := rc.(readerAtCloser); ok {
		return ra, nil
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return nopCloser{bytes.NewReader(data)}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// plainSink keeps decrypted text up to max bytes, cut at a rune boundary,
// and checks that all of it is UTF-8: binary plaintext (an encrypted file)
// is no text.
type plainSink struct {
	max     int
	b       strings.Builder // String() makes no copy of up to max bytes
	full    bool
	carry   []byte // an incomplete rune at the end of the last write
	invalid bool
}

func (s *plainSink) Write(p []byte) (int, error) {
	n := len(p)
	if s.invalid {
		return n, nil
	}
	if len(s.carry) > 0 {
		// Complete the rune cut by the end of the last write.
		r := append(s.carry, p[:min(len(p), utf8.UTFMax-len(s.carry))]...)
		if !utf8.FullRune(r) {
			s.carry = r
			return n, nil
		}
		c, size := utf8.DecodeRune(r)
		if c == utf8.RuneError && size == 1 {
			s.invalid = true
			return n, nil
		}
		s.keep(r[:size])
		p, s.carry = p[size-len(s.carry):], nil
	}
	// Keep back a rune cut by the end of p.
	cut := len(p)
	if i := lastRuneStart(p); len(p)-i < utf8.UTFMax && !utf8.FullRune(p[i:]) {
		cut = i
	}
	if !utf8.Valid(p[:cut]) {
		s.invalid = true
		return n, nil
	}
	s.keep(p[:cut])
	s.carry = append(s.carry, p[cut:]...)
	return n, nil
}

// keep adds whole runes to the text, up to max.
func (s *plainSink) keep(b []byte) {
	room := s.max - s.b.Len()
	if s.full || room <= 0 {
		s.full = true
		return
	}
	if len(b) > room {
		b, s.full = b[:room], true
		for len(b) > 0 && !utf8.FullRune(b[lastRuneStart(b):]) {
			b = b[:lastRuneStart(b)]
		}
	}
	if s.b.Cap()-s.b.Len() < len(b) {
		// Grow about twice over: Write's own growth of a large buffer
		// (x1.25) leaves four times the text behind as garbage.
		s.b.Grow(max(len(b), min(s.b.Cap(), s.max-s.b.Len())))
	}
	s.b.Write(b)
}

// text is the text kept, and whether all of the plaintext was UTF-8 (if
// not, the text is not to be used).
func (s *plainSink) text() (string, bool) {
	return s.b.String(), !s.invalid && len(s.carry) == 0
}

// lastRuneStart is the index of the last byte of b that starts a rune (0
// when none does).
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return 0
}

// verifySigned checks a signed-only message (PGP/MIME multipart/signed or
// clearsigned text) against the sender's known key.
func (l *Line) verifySigned(in *incoming, raw func() (io.ReadCloser, error), verify openpgp.EntityList) {
	rc, err := raw()
	if err != nil {
		return
	}
	defer rc.Close()
	res, err := pgp.Options{MaxSize: l.cfg.Limits.MaxMessageBytes, Now: l.now}.VerifyMessage(rc, verify)
	if err != nil && res == nil {
		return
	}
	in.crypto.signed = res.Signed
	if res.SignatureValid {
		in.crypto.signatureValid, in.crypto.signer = true, res.SignerFingerprint
		// Keys inside the signed entity (RFC 3156 section 5) are vouched
		// for by the signer; keys around it are not.
		if signed, err := parse.Parse(bytes.NewReader(res.Plaintext), l.parseLimits()); err == nil {
			in.crypto.signedKeys = append(in.crypto.signedKeys, signed.Keys...)
		}
	}
}

// replayedCase finds a case that already holds one of this message's
// ciphertexts. Sent again by someone not on that case, it is an attempt to
// use the bot as a decryption oracle (EFAIL): it goes on the original case
// and nothing is sent back.
func (l *Line) replayedCase(tx *txn, in *incoming) (*store.Case, error) {
	for _, h := range in.crypto.cipherHashes {
		v, ok := tx.Meta("ciphertext:" + h)
		if !ok {
			continue
		}
		var id uint64
		fmt.Sscan(v, &id)
		return tx.Case(id)
	}
	return nil, nil
}

// rememberCiphertexts indexes this message's ciphertexts under case c.
func (l *Line) rememberCiphertexts(tx *txn, c *store.Case, in *incoming) error {
	for _, h := range in.crypto.cipherHashes {
		if _, ok := tx.Meta("ciphertext:" + h); ok {
			continue
		}
		if err := tx.SetMeta("ciphertext:"+h, fmt.Sprint(c.ID)); err != nil {
			return err
		}
	}
	return nil
}
