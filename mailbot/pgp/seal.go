package pgp

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-pgpmail"
)

// maxBodySize bounds the entity Seal and Sign read from the caller.
const maxBodySize = DefaultMaxSize

// protectedFields are copied from the outer header into the encrypted part
// (RFC 9788 section 2.1; Subject is replaced by the caller's innerSubject).
var protectedFields = []string{"From", "To", "Cc", "Reply-To", "Date", "Message-ID", "In-Reply-To", "References"}

func sendConfig() *packet.Config {
	return &packet.Config{DefaultCipher: packet.CipherAES256, DefaultHash: crypto.SHA256}
}

// Seal writes a PGP/MIME message that is signed and encrypted in one
// OpenPGP message (RFC 3156 section 6.2) with protected headers (RFC 9788):
// the encrypted part is body (a MIME entity with its own header, e.g.
// "Content-Type: text/plain; charset=utf-8") whose Content-Type gains
// protected-headers="v1" and hp="cipher", and which carries copies of From,
// To, Cc, Reply-To, Date, Message-ID, In-Reply-To and References from outer,
// Subject set to innerSubject, and HP-Outer fields recording the outer
// values. outer's own Subject (the obscured "[...]" plus case tag) is the
// caller's. outer is not modified. Every recipient needs a usable
// encryption key (ErrNoEncryptionKey); signer signs with its current key.
func Seal(w io.Writer, outer mail.Header, innerSubject string, body io.Reader, to openpgp.EntityList, signer *Keyring) error {
	if signer == nil || len(signer.entities) == 0 {
		return fmt.Errorf("pgp: seal: %w", ErrNoSecretKey)
	}
	if len(to) == 0 {
		return fmt.Errorf("pgp: seal: no recipients")
	}
	now := time.Now()
	for _, e := range to {
		if _, ok := e.EncryptionKey(now); !ok {
			return fmt.Errorf("pgp: seal: %w: %s", ErrNoEncryptionKey, fingerprint(e.PrimaryKey.Fingerprint))
		}
	}
	inner, err := readEntity(body)
	if err != nil {
		return err
	}
	ih := mail.Header{Header: message.Header{Header: inner.header}}
	ct := ih.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	t, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("pgp: seal: body Content-Type: %w", err)
	}
	params["protected-headers"] = "v1" // read by Thunderbird, Enigmail, K-9
	params["hp"] = "cipher"            // RFC 9788 section 2.1.1
	ih.Set("Content-Type", mime.FormatMediaType(t, params))

	// Header fields come out in reverse order of Set: set them last first.
	for i := len(protectedFields) - 1; i >= 0; i-- {
		if v := outer.Get(protectedFields[i]); v != "" {
			ih.Set(protectedFields[i], v)
		}
	}
	ih.SetSubject(innerSubject)
	// RFC 9788 section 2.2: what the outer header said, for the recipient's
	// client to show what was exposed.
	for _, f := range append([]string{"Subject"}, protectedFields...) {
		if v := outer.Get(f); v != "" {
			ih.Add("HP-Outer", f+": "+v)
		}
	}

	oh := outer.Header.Header.Copy() // pgpmail.Encrypt sets Content-Type on it
	pw, err := pgpmail.Encrypt(w, oh, to, signer.entities[0], sendConfig())
	if err != nil {
		return fmt.Errorf("pgp: seal: %w", err)
	}
	if err := textproto.WriteHeader(pw, ih.Header.Header); err != nil {
		return fmt.Errorf("pgp: seal: %w", err)
	}
	if _, err := pw.Write(inner.body); err != nil {
		return fmt.Errorf("pgp: seal: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("pgp: seal: %w", err)
	}
	return nil
}

type entity struct {
	header textproto.Header
	body   []byte
}

func readEntity(body io.Reader) (*entity, error) {
	raw, err := readBounded(body, maxBodySize)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("pgp: body: %w", err)
		}
		return nil, fmt.Errorf("pgp: read body: %w", err)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("pgp: body header: %w", err)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	return &entity{header: h, body: rest}, nil
}

// Sign writes h followed by a PGP/MIME multipart/signed body (RFC 3156
// section 5) for recipients without a key. body is a MIME entity with its
// own header. RFC 3156 section 3 wants signed data 7-bit clean and without
// trailing whitespace: an 8-bit or unencoded body whose lines would not
// survive transport is quoted-printable encoded first. The signed part is
// sent in canonical CRLF form. h is not modified.
func Sign(w io.Writer, h mail.Header, body io.Reader, signer *Keyring) error {
	if signer == nil || len(signer.entities) == 0 {
		return fmt.Errorf("pgp: sign: %w", ErrNoSecretKey)
	}
	ent, err := readEntity(body)
	if err != nil {
		return err
	}
	if needsQP(ent) {
		var qp bytes.Buffer
		qw := quotedprintable.NewWriter(&qp)
		if _, err := qw.Write(ent.body); err != nil {
			return err
		}
		if err := qw.Close(); err != nil {
			return err
		}
		ent.header.Set("Content-Transfer-Encoding", "quoted-printable")
		ent.body = qp.Bytes()
	}
	var part bytes.Buffer
	if err := textproto.WriteHeader(&part, ent.header); err != nil {
		return err
	}
	part.Write(ent.body)
	signed := ToCRLF(part.Bytes())

	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, signer.entities[0], bytes.NewReader(signed), sendConfig()); err != nil {
		return fmt.Errorf("pgp: sign: %w", err)
	}
	micalg, err := micalgOf(sig.Bytes())
	if err != nil {
		return err
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	boundary := "=_pgp_" + hex.EncodeToString(rnd[:])

	oh := h.Header.Header.Copy()
	oh.Set("Content-Type", mime.FormatMediaType("multipart/signed", map[string]string{
		"protocol": "application/pgp-signature",
		"micalg":   micalg,
		"boundary": boundary,
	}))
	if !oh.Has("Mime-Version") {
		oh.Set("Mime-Version", "1.0")
	}

	var out bytes.Buffer
	if err := textproto.WriteHeader(&out, oh); err != nil {
		return err
	}
	out.WriteString("This is an OpenPGP/MIME signed message (RFC 3156).\r\n")
	out.WriteString("--" + boundary + "\r\n")
	out.Write(signed)
	// RFC 2046 section 5.1.1: the CRLF before a boundary belongs to the boundary.
	out.WriteString("\r\n--" + boundary + "\r\n")
	out.WriteString("Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n")
	out.WriteString("Content-Description: OpenPGP digital signature\r\n")
	out.WriteString("Content-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n")
	var arm bytes.Buffer
	aw, err := armor.Encode(&arm, openpgp.SignatureType, nil)
	if err != nil {
		return err
	}
	aw.Write(sig.Bytes())
	if err := aw.Close(); err != nil {
		return err
	}
	out.Write(ToCRLF(arm.Bytes()))
	out.WriteString("\r\n--" + boundary + "--\r\n")
	_, err = w.Write(out.Bytes())
	return err
}

// needsQP reports whether an entity without a transfer encoding must be
// encoded before signing: 8-bit octets, trailing whitespace, long lines
// or a "From " line that an mbox would mangle (RFC 3156 section 3).
func needsQP(e *entity) bool {
	switch strings.ToLower(strings.TrimSpace(e.header.Get("Content-Transfer-Encoding"))) {
	case "", "7bit", "8bit", "binary":
	default:
		return false // already quoted-printable or base64
	}
	if t, _, _ := mime.ParseMediaType(e.header.Get("Content-Type")); strings.HasPrefix(strings.ToLower(t), "multipart/") {
		return false // encoding a multipart would break its boundaries
	}
	for _, line := range bytes.Split(e.body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 76 || bytes.HasPrefix(line, []byte("From ")) {
			return true
		}
		if n := len(line); n > 0 && (line[n-1] == ' ' || line[n-1] == '\t') {
			return true
		}
		for _, c := range line {
			if c >= 0x80 || c == 0 {
				return true
			}
		}
	}
	return false
}

// micalgOf names the hash of the signature for the micalg parameter
// (RFC 3156 section 5).
func micalgOf(sig []byte) (string, error) {
	p, err := packet.Read(bytes.NewReader(sig))
	if err != nil {
		return "", fmt.Errorf("pgp: sign: read own signature: %w", err)
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return "", fmt.Errorf("pgp: sign: not a signature packet")
	}
	switch s.Hash {
	case crypto.SHA256:
		return "pgp-sha256", nil
	case crypto.SHA384:
		return "pgp-sha384", nil
	case crypto.SHA512:
		return "pgp-sha512", nil
	case crypto.SHA224:
		return "pgp-sha224", nil
	case crypto.SHA1:
		return "pgp-sha1", nil
	}
	return "", fmt.Errorf("pgp: sign: no micalg for hash %v", s.Hash)
}
