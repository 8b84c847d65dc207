package pgp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message/textproto"
)

// Bounds on the MIME walk in VerifyMessage.
const (
	maxDepth = 10
	maxParts = 200
)

// VerifyDetached checks a detached signature (armored or binary) over
// signed, as in RFC 3156 section 5: signed is the first part of a
// multipart/signed, headers included. Line endings are canonicalised to
// CRLF first (RFC 3156 section 5 signs the canonical form; mail stored with
// LF would otherwise never verify). A signature that does not verify is
// reported in Result, not as an error; errors are ErrDamaged (no signature
// packet) and ErrTooLarge (signed over DefaultMaxSize).
func VerifyDetached(signed io.Reader, sig []byte, keys openpgp.EntityList) (*Result, error) {
	return Options{}.VerifyDetached(signed, sig, keys)
}

// VerifyDetached is VerifyDetached at the clock o.Now, bounded by o.MaxSize.
func (o Options) VerifyDetached(signed io.Reader, sig []byte, keys openpgp.EntityList) (*Result, error) {
	return verifyDetached(signed, sig, keys, o.maxSize(), o.now)
}

func verifyDetached(signed io.Reader, sig []byte, keys openpgp.EntityList, max int64, now func() time.Time) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: panic in openpgp: %v", ErrDamaged, r)
		}
	}()
	data, err := readBounded(signed, max)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%w: signed data over %d bytes", ErrTooLarge, max)
		}
		return nil, fmt.Errorf("pgp: read signed data: %w", err)
	}
	data = ToCRLF(data)
	sigBin, err := sigPackets(sig)
	if err != nil {
		return nil, err
	}
	res = &Result{Signed: true, Plaintext: data}
	if id, ok := issuer(sigBin); ok {
		res.SignerKeyID = keyID(id)
	} else if id, ok := v3Issuer(sigBin); ok {
		// go-crypto skips v3 signatures and would call the signer unknown.
		res.SignerKeyID = keyID(id)
		res.SignatureError = SigUnsupported + ": version 3 signature"
		return res, nil
	}
	_, signer, verr := openpgp.VerifyDetachedSignature(keys, bytes.NewReader(data), bytes.NewReader(sigBin), &packet.Config{Time: verifyClock(now)})
	switch {
	case verr == nil && signer != nil:
		res.SignatureValid = true
		res.SignerFingerprint = fingerprint(signer.PrimaryKey.Fingerprint)
	case verr == nil:
		res.SignatureError = SigUnknownSigner
	default:
		res.SignatureError = sigReason(verr)
	}
	return res, nil
}

// sigPackets returns the binary signature packets of an armored or binary
// detached signature.
func sigPackets(sig []byte) ([]byte, error) {
	if len(sig) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrDamaged)
	}
	if sig[0]&0x80 != 0 {
		return sig, nil
	}
	// QUIRK: go-pgpmail (and some old clients) label a detached signature
	// "PGP MESSAGE"; accept any armor type and check the packets instead.
	block, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		return nil, fmt.Errorf("%w: signature armor: %v", ErrDamaged, err)
	}
	bin, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: signature armor: %v", ErrDamaged, err)
	}
	return bin, nil
}

// issuer returns the issuer key id of the first signature packet.
func issuer(bin []byte) (id uint64, ok bool) {
	defer func() {
		if recover() != nil {
			id, ok = 0, false
		}
	}()
	pr := packet.NewReader(bytes.NewReader(bin))
	for i := 0; i < 16; i++ {
		p, err := pr.Next()
		if err != nil {
			return 0, false
		}
		if s, isSig := p.(*packet.Signature); isSig {
			switch {
			case s.IssuerKeyId != nil:
				return *s.IssuerKeyId, true
			case len(s.IssuerFingerprint) >= 8: // v6: the key id is the first 8 octets
				var v uint64
				for _, b := range s.IssuerFingerprint[:8] {
					v = v<<8 | uint64(b)
				}
				return v, true
			}
		}
	}
	return 0, false
}

// v3Issuer returns the issuer of a version 3 signature packet (RFC 4880
// section 5.2.2), which go-crypto does not parse: old PGP and KMail made them.
func v3Issuer(b []byte) (uint64, bool) {
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, false
	}
	var tag int
	var body []byte
	if b[0]&0x40 != 0 {
		tag = int(b[0] & 0x3f)
		if b[1] >= 192 {
			return 0, false // v3 signatures are short: one-octet length
		}
		body = b[2:]
	} else {
		tag = int(b[0]>>2) & 0xf
		switch b[0] & 3 {
		case 0:
			body = b[2:]
		case 1:
			if len(b) < 3 {
				return 0, false
			}
			body = b[3:]
		default:
			return 0, false
		}
	}
	// version(1)=3, hashed length(1)=5, type(1), time(4), key id(8)
	if tag != tagSignature || len(body) < 15 || body[0] != 3 || body[1] != 5 {
		return 0, false
	}
	return binary.BigEndian.Uint64(body[7:15]), true
}

// VerifyClearsigned checks a cleartext-signed text (RFC 9580 section 7).
// Result.Plaintext is the signed text only: text before or after the
// signed block is not part of it and must not be shown as signed.
func VerifyClearsigned(data []byte, keys openpgp.EntityList) (*Result, error) {
	return Options{}.VerifyClearsigned(data, keys)
}

// VerifyClearsigned is VerifyClearsigned at the clock o.Now.
func (o Options) VerifyClearsigned(data []byte, keys openpgp.EntityList) (*Result, error) {
	return verifyClearsigned(data, keys, o.now)
}

func verifyClearsigned(data []byte, keys openpgp.EntityList, now func() time.Time) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: panic in openpgp: %v", ErrDamaged, r)
		}
	}()
	b, _ := clearsign.Decode(data)
	if b == nil {
		if bytes.Contains(data, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
			return nil, fmt.Errorf("%w: broken clearsigned block", ErrDamaged)
		}
		return nil, ErrNotSigned
	}
	sigBin, err := io.ReadAll(b.ArmoredSignature.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: clearsigned signature: %v", ErrDamaged, err)
	}
	res = &Result{Signed: true, Plaintext: b.Plaintext}
	if id, ok := issuer(sigBin); ok {
		res.SignerKeyID = keyID(id)
	}
	b.ArmoredSignature.Body = bytes.NewReader(sigBin)
	signer, verr := b.VerifySignature(keys, &packet.Config{Time: verifyClock(now)})
	switch {
	case verr == nil && signer != nil:
		res.SignatureValid = true
		res.SignerFingerprint = fingerprint(signer.PrimaryKey.Fingerprint)
	case verr == nil:
		res.SignatureError = SigUnknownSigner
	default:
		res.SignatureError = sigReason(verr)
	}
	return res, nil
}

// VerifyMessage checks the signature of a whole raw message: PGP/MIME
// multipart/signed (RFC 3156 section 5), at the top or nested (mailing
// lists wrap it to add a footer), or else the first clearsigned text part.
// Result.Plaintext is the signed content only (the signed MIME entity, or
// the clearsigned text); Encrypted is false. Errors: ErrNotSigned,
// ErrTooLarge (raw over maxSize, 0 meaning DefaultMaxSize), ErrDamaged.
func VerifyMessage(raw io.Reader, keys openpgp.EntityList, maxSize int64) (*Result, error) {
	return Options{MaxSize: maxSize}.VerifyMessage(raw, keys)
}

// VerifyMessage is VerifyMessage at the clock o.Now, the raw message
// bounded by o.MaxSize.
func (o Options) VerifyMessage(raw io.Reader, keys openpgp.EntityList) (*Result, error) {
	maxSize := o.maxSize()
	data, err := readBounded(raw, maxSize)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%w: message over %d bytes", ErrTooLarge, maxSize)
		}
		return nil, fmt.Errorf("pgp: read message: %w", err)
	}
	// RFC 3156 section 5: the signed entity is hashed in canonical CRLF form.
	// QUIRK: mail stored with bare LF is converted first.
	data = ToCRLF(data)
	if bytes.HasPrefix(data, []byte("From ")) {
		// QUIRK: an mbox "From " separator line before the header.
		if i := bytes.Index(data, []byte("\r\n")); i >= 0 {
			data = data[i+2:]
		}
	}
	br := bufio.NewReader(bytes.NewReader(data))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: message header: %v", ErrDamaged, err)
	}
	w := &walker{keys: keys, now: o.now}
	res, err := w.walk(h, br, 0)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, ErrNotSigned
	}
	return res, nil
}

type walker struct {
	keys  openpgp.EntityList
	now   func() time.Time
	parts int
}

// walk looks for the first signed entity in a MIME tree. It returns nil,
// nil when there is none.
func (w *walker) walk(h textproto.Header, body io.Reader, depth int) (*Result, error) {
	w.parts++
	if depth > maxDepth || w.parts > maxParts {
		return nil, fmt.Errorf("%w: MIME structure deeper than %d or more than %d parts", ErrDamaged, maxDepth, maxParts)
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	t, params, err := mime.ParseMediaType(ct)
	if err != nil {
		// QUIRK: an unparsable Content-Type is treated as text/plain (RFC 2045 section 5.2).
		t, params = "text/plain", nil
	}
	t = strings.ToLower(t)
	switch {
	case t == "multipart/signed" && strings.EqualFold(params["protocol"], "application/pgp-signature"):
		return w.pgpMIME(params["boundary"], body)
	case t == "multipart/encrypted":
		return nil, fmt.Errorf("%w: the message is encrypted: decrypt it first", ErrNotSigned)
	case strings.HasPrefix(t, "multipart/"):
		if params["boundary"] == "" {
			return nil, nil
		}
		mr := textproto.NewMultipartReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				// QUIRK: a missing closing boundary ends the walk, not the verification.
				return nil, nil
			}
			res, err := w.walk(p.Header, p, depth+1)
			if res != nil || err != nil {
				return res, err
			}
		}
	case strings.HasPrefix(t, "text/"):
		text, err := DecodeCTE(h.Get("Content-Transfer-Encoding"), body)
		if err != nil || !bytes.Contains(text, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
			return nil, nil
		}
		return verifyClearsigned(text, w.keys, w.now)
	}
	return nil, nil
}

// pgpMIME verifies a multipart/signed entity (RFC 3156 section 5): the
// first part, headers included and in CRLF form (the caller converted the
// data), is what the application/pgp-signature second part signs.
//
// go-pgpmail's reader is not used here: it refuses a micalg parameter that
// disagrees with the signature packet (QUIRK: Apple Mail labels SHA-256
// signatures pgp-sha512; the hash in the signed packet is what counts) and
// does not check the signer key's expiry or revocation.
func (w *walker) pgpMIME(boundary string, body io.Reader) (*Result, error) {
	if boundary == "" {
		return nil, fmt.Errorf("%w: multipart/signed without boundary", ErrDamaged)
	}
	mr := textproto.NewMultipartReader(body, boundary)
	p, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("%w: multipart/signed: signed part: %v", ErrDamaged, err)
	}
	var signed bytes.Buffer
	if err := textproto.WriteHeader(&signed, p.Header); err != nil {
		return nil, err
	}
	if _, err := io.Copy(&signed, p); err != nil {
		return nil, fmt.Errorf("%w: multipart/signed: signed part: %v", ErrDamaged, err)
	}
	p, err = mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("%w: multipart/signed: signature part: %v", ErrDamaged, err)
	}
	if t, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); !strings.EqualFold(t, "application/pgp-signature") {
		return nil, fmt.Errorf("%w: multipart/signed: second part is %q, not application/pgp-signature", ErrDamaged, truncate(t, 60))
	}
	sig, err := DecodeCTE(p.Header.Get("Content-Transfer-Encoding"), p)
	if err != nil {
		return nil, fmt.Errorf("%w: multipart/signed: signature part: %v", ErrDamaged, err)
	}
	return verifyDetached(&signed, sig, w.keys, DefaultMaxSize, w.now)
}

// DecodeCTE undoes a Content-Transfer-Encoding. The input is already bounded.
func DecodeCTE(cte string, r io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(r))
	case "base64":
		// QUIRK: line breaks and stray whitespace inside base64 are common.
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, &skipSpace{r: r}))
	}
	return io.ReadAll(r)
}

// skipSpace drops ASCII whitespace from a base64 stream.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			switch c {
			case ' ', '\t', '\r', '\n':
			default:
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// ToCRLF converts bare LF (and bare CR) line endings to CRLF: the canonical
// form signed text is hashed in (RFC 3156 section 5).
func ToCRLF(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
