package mailbot

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
	"github.com/emersion/go-message/mail"

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
	plainText      string   // text of the decrypted parts, kept apart from the rest (EFAIL)
	cipherHashes   []string // SHA-256 of each ciphertext block, to spot replays
	keys           [][]byte // public keys offered by the sender (attached, Autocrypt, or inside the encrypted part)
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

// text is what the report says, subject included: the decrypted text when
// it was encrypted, else the plain text body. Decrypted text is never joined
// with the plaintext around it (EFAIL).
func (in *incoming) text() string {
	body := in.msg.Text
	if in.crypto.encrypted {
		body = in.crypto.plainText
	}
	return in.msg.Subject + "\n" + body
}

// senderKeys are the sender's keys we already hold: only they can make a
// signature valid. A key attached to the same message proves nothing about
// who signed it.
func (d *Daemon) senderKeys(addr string) openpgp.EntityList {
	if addr == "" {
		return nil
	}
	var armored []byte
	d.store.View(func(tx *store.Tx) error {
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
func (d *Daemon) openCrypto(in *incoming, raw func() (io.ReadCloser, error)) {
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
	verify := d.senderKeys(in.from)
	if m.PGPDropped > 0 {
		// Never silently: the team must learn that part of it stayed unread.
		c.encrypted, c.tooLarge = true, true
		c.reason = fmt.Sprintf("%d encrypted part(s) over the %d byte decryption limit: not decrypted", m.PGPDropped, d.parseLimits().MaxPGPBytes)
	}
	if len(m.PGP) == 0 {
		if m.Signed {
			d.verifySigned(in, raw, verify)
		}
		return
	}
	var texts []string
	for _, b := range m.PGP {
		sum := sha256.Sum256(b.Data)
		c.cipherHashes = append(c.cipherHashes, hex.EncodeToString(sum[:]))
		c.encrypted = true
		if d.keys == nil {
			c.noKey = true
			c.reason = "encrypted, but the bot has no key configured"
			continue
		}
		res, err := d.keys.Decrypt(b.Data, verify, pgp.Options{MaxSize: int64(d.parseLimits().MaxPGPBytes), Now: d.now})
		var nk *pgp.NoKeyError
		switch {
		case errors.Is(err, pgp.ErrNotEncrypted):
			// A signed-only block inside an otherwise plain message.
			continue
		case errors.As(err, &nk):
			c.noKey = true
			c.keyIDs = append(c.keyIDs, nk.KeyIDs...)
			c.reason = fmt.Sprintf("encrypted to a key we do not hold (%s)", strings.Join(nk.KeyIDs, ", "))
			continue
		case err != nil:
			c.damaged = true
			c.reason = "cannot decrypt: " + err.Error()
			continue
		}
		if res.Signed {
			c.signed = true
			if res.SignatureValid {
				c.signatureValid, c.signer = true, res.SignerFingerprint
			}
		}
		switch b.Kind {
		case "pgp-mime", "mixed-up":
			inner, err := parse.Parse(bytes.NewReader(res.Plaintext), d.parseLimits())
			if err != nil {
				c.damaged = true
				c.reason = "the decrypted part is not a readable MIME entity: " + err.Error()
				continue
			}
			texts = append(texts, inner.Text)
			m.Attachments = append(m.Attachments, inner.Attachments...)
			c.keys = append(c.keys, inner.Keys...)
			// RFC 9788 section 4.3: the protected Subject is the real one.
			if inner.Header.Has("Subject") {
				m.Subject = inner.Subject
			}
			if inner.Signed && !c.signed {
				c.signed = true // an inner multipart/signed: verified below against raw bytes is not possible; recorded as signed
			}
		default:
			if utf8.Valid(res.Plaintext) {
				texts = append(texts, string(res.Plaintext))
			}
		}
	}
	if c.unreadable() {
		texts = nil
	}
	c.plainText = strings.Join(texts, "\n\n")
}

// verifySigned checks a signed-only message (PGP/MIME multipart/signed or
// clearsigned text) against the sender's known key.
func (d *Daemon) verifySigned(in *incoming, raw func() (io.ReadCloser, error), verify openpgp.EntityList) {
	rc, err := raw()
	if err != nil {
		return
	}
	defer rc.Close()
	res, err := pgp.VerifyMessage(rc, verify, d.cfg.Limits.MaxMessageBytes)
	if err != nil && res == nil {
		return
	}
	in.crypto.signed = res.Signed
	if res.SignatureValid {
		in.crypto.signatureValid, in.crypto.signer = true, res.SignerFingerprint
	}
}

// learnKeys remembers the sender's public key when one offered in the
// message carries the sender's address. It returns the key to encrypt to.
func (d *Daemon) learnKeys(tx *store.Tx, c *store.Case, in *incoming) error {
	if in.from == "" {
		return nil
	}
	for _, armored := range in.crypto.keys {
		keys, err := pgp.ParseKeys(armored)
		if err != nil {
			continue
		}
		e := pgp.KeyForAddress(keys, in.from)
		if e == nil {
			continue
		}
		pub, err := pgp.Armor(openpgp.EntityList{e})
		if err != nil {
			continue
		}
		if old, ok := tx.Key(in.from); ok && bytes.Equal(old, pub) {
			return nil
		}
		if err := tx.PutKey(in.from, pub); err != nil {
			return err
		}
		if c != nil {
			return tx.AppendEvent(c.ID, store.Event{Time: d.now(), Kind: "key.learned", Actor: in.from,
				Detail: fmt.Sprintf("OpenPGP key %X for %s", e.PrimaryKey.Fingerprint, in.from)})
		}
		return nil
	}
	return nil
}

// replayedCase finds a case that already holds one of this message's
// ciphertexts. Sent again by someone not on that case, it is an attempt to
// use the bot as a decryption oracle (EFAIL): it goes on the original case
// and nothing is sent back.
func (d *Daemon) replayedCase(tx *store.Tx, in *incoming) (*store.Case, bool, error) {
	for _, h := range in.crypto.cipherHashes {
		v, ok := tx.Meta("ciphertext:" + h)
		if !ok {
			continue
		}
		var id uint64
		fmt.Sscan(v, &id)
		c, err := tx.Case(id)
		if err != nil {
			return nil, false, err
		}
		return c, true, nil
	}
	return nil, false, nil
}

// rememberCiphertexts indexes this message's ciphertexts under case c.
func (d *Daemon) rememberCiphertexts(tx *store.Tx, c *store.Case, in *incoming) error {
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

// recipientKey is the reporter's key to encrypt to, if we hold one.
func recipientKey(tx *store.Tx, addr string) openpgp.EntityList {
	armored, ok := tx.Key(addr)
	if !ok {
		return nil
	}
	keys, err := pgp.ParseKeys(armored)
	if err != nil {
		return nil
	}
	if e := pgp.KeyForAddress(keys, addr); e != nil {
		return openpgp.EntityList{e}
	}
	return nil
}

// seal writes h and body as PGP/MIME: encrypted and signed to `to` when set
// (outer Subject "[...]" plus the case tag, RFC 9788), else signed only when
// the bot has a key, else plain.
func (d *Daemon) seal(w io.Writer, h mail.Header, subject, caseRef, body string, to openpgp.EntityList) error {
	if d.keys == nil {
		h.SetSubject(subject)
		return writeText(w, h, body)
	}
	var inner bytes.Buffer
	var ih mail.Header
	if err := writeText(&inner, ih, body); err != nil {
		return err
	}
	if len(to) > 0 {
		h.SetSubject("[...] [" + caseRef + "]")
		return pgp.Seal(w, h, subject, &inner, to, d.keys)
	}
	h.SetSubject(subject)
	return pgp.Sign(w, h, &inner, d.keys)
}

// fingerprint is the bot's key fingerprint, "" without a key.
func (d *Daemon) fingerprint() string {
	if d.keys == nil {
		return ""
	}
	return d.keys.Fingerprint()
}
