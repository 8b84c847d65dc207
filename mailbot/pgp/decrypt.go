package pgp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// OpenPGP packet tags (RFC 9580 section 5).
const (
	tagPKESK       = 1
	tagSignature   = 2
	tagSKESK       = 3
	tagOnePassSig  = 4
	tagSecretKey   = 5
	tagPublicKey   = 6
	tagSecretSub   = 7
	tagCompressed  = 8
	tagSED         = 9 // Symmetrically Encrypted Data: no integrity protection
	tagMarker      = 10
	tagLiteral     = 11
	tagUserID      = 13
	tagPublicSub   = 14
	tagSEIPD       = 18 // with MDC (v1) or AEAD (v2)
	tagAEADEncData = 20 // LibrePGP/draft AEAD packet
	tagPadding     = 21

	maxPackets = 10000
)

// decryptRing decrypts with the bot's keys and verifies signatures with the
// caller's list only, so a message "signed" by the bot's own key but sent
// from outside is not mistaken for a researcher's known key, and a
// researcher's list can never decrypt anything.
type decryptRing struct {
	dec, ver openpgp.EntityList
}

func (r decryptRing) KeysById(id uint64) []openpgp.Key { return r.dec.KeysById(id) }
func (r decryptRing) KeysByIdUsage(id uint64, usage byte) []openpgp.Key {
	return r.ver.KeysByIdUsage(id, usage)
}
func (r decryptRing) DecryptionKeys() []openpgp.Key { return r.dec.DecryptionKeys() }

// Decrypt decrypts one block of ciphertext, armored or binary, exactly as
// found in the mail (a PGP/MIME application/octet-stream part, an inline
// block, an attachment). Decrypt each block on its own and never join the
// plaintext to the text around it (EFAIL).
//
// The whole plaintext is read to EOF into a bounded buffer, and the MDC or
// AEAD tag and any signature are checked, before anything is returned; on
// error Result.Plaintext is nil. Errors wrap ErrNoKey (as *NoKeyError with
// the recipient key ids), ErrIntegrity (no MDC, MDC mismatch, AEAD tag, or
// any damage found after the session key was recovered), ErrTooLarge,
// ErrNotEncrypted (signed-only data, keys, a clearsigned text) or ErrDamaged
// (everything else, including a panic inside go-crypto). The recipient ids
// are in *NoKeyError on ErrNoKey; on ErrIntegrity and ErrTooLarge a Result
// with Encrypted and KeyIDs (and Plaintext nil) comes back with the error.
//
// Signatures are checked against verify only: Result.SignatureValid is true
// only for a known signer whose signature verified.
//
// Decrypt holds the plaintext whole; DecryptStream does not.
func (k *Keyring) Decrypt(data []byte, verify openpgp.EntityList, opt Options) (*Result, error) {
	open := func() (io.Reader, error) { return bytes.NewReader(data), nil }
	s, err := k.DecryptStream(open, verify, opt)
	if err != nil {
		return nil, err
	}
	plain, rerr := readBounded(s, opt.maxSize())
	res, err := s.Close()
	if err != nil {
		return res, err
	}
	if rerr != nil { // cannot happen: Close reports what Read met
		return res, fmt.Errorf("%w: %v", ErrIntegrity, rerr)
	}
	res.Plaintext = plain
	return res, nil
}

// DecryptStream is Decrypt for a block too large to hold: open returns the
// block exactly as found, from its start, each time it is called (it is
// called twice: the framing is checked in a first pass, before anything is
// decrypted). The plaintext is read from the returned Stream.
//
// The bytes read from a Stream are UNVERIFIED: the MDC or AEAD tag and the
// signature are checked only at the end. Use nothing derived from them
// before Close returned a nil error (EFAIL); on error, throw it all away.
// Errors, from DecryptStream and from Close, are those of Decrypt.
func (k *Keyring) DecryptStream(open func() (io.Reader, error), verify openpgp.EntityList, opt Options) (s *Stream, err error) {
	// ProtonMail/go-crypto#326: ReadMessage can panic on hostile input.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: panic in openpgp: %v", ErrDamaged, r)
		}
	}()
	binary := func() (io.Reader, error) {
		r, err := open()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		return dearmor(r)
	}
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	if err := checkFraming(bin); err != nil {
		return nil, err
	}
	if bin, err = binary(); err != nil {
		return nil, err
	}

	max := opt.maxSize()
	// The library's own cap on decompression is a backstop for data that is
	// not literal data (trailing packets); ours in Stream.Read is the one
	// that fires.
	libMax := max + 1<<20
	cfg := &packet.Config{
		MaxDecompressedMessageSize: &libMax,
		Time:                       verifyClock(opt.now),
	}
	var dec openpgp.EntityList
	if k != nil {
		dec = k.entities
	}
	md, err := openpgp.ReadMessage(bin, decryptRing{dec: dec, ver: verify}, nil, cfg)
	if err != nil {
		return nil, classifyReadError(err, binary, dec)
	}
	if !md.IsEncrypted {
		return nil, fmt.Errorf("%w: signed-only data", ErrNotEncrypted)
	}
	return &Stream{md: md, max: max, res: &Result{Encrypted: true, KeyIDs: keyIDs(md.EncryptedToKeyIds)}}, nil
}

// Stream is the plaintext of one block, decrypted as it is read. Not safe
// for concurrent use.
type Stream struct {
	md   *openpgp.MessageDetails
	max  int64
	n    int64
	res  *Result
	err  error // the first error met; sticky
	done bool  // EOF reached without error
}

// Read reads unverified plaintext (see DecryptStream). It fails with
// ErrTooLarge past Options.MaxSize, and at the end with the integrity error
// if the data was modified.
func (s *Stream) Read(p []byte) (n int, err error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, io.EOF
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%w: panic in openpgp: %v", ErrDamaged, r)
			s.err = err
		}
	}()
	n, err = s.md.UnverifiedBody.Read(p)
	s.n += int64(n)
	switch {
	case s.n > s.max:
		s.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.max)
		return 0, s.err
	case err == io.EOF:
		s.done = true
	case err != nil:
		if errors.Is(err, pgperrors.ErrMessageTooLarge) {
			s.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.max)
		} else {
			// The framing was complete and the session key decrypted:
			// whatever goes wrong now (MDC mismatch, AEAD tag, garbage in
			// the decrypted packets) means the ciphertext was modified or
			// broken. go-crypto makes these errors deliberately vague (no
			// oracle); so do we.
			s.err = fmt.Errorf("%w: %v", ErrIntegrity, err)
		}
		return n, s.err
	}
	return n, err
}

// Close reads what is left of the plaintext, checks the MDC or AEAD tag and
// the signature, and says whether what was read may be used: only when the
// error is nil. The Result (without Plaintext) comes back on ErrIntegrity
// and ErrTooLarge too, as from Decrypt.
func (s *Stream) Close() (*Result, error) {
	if s.err == nil && !s.done {
		buf := make([]byte, 32<<10)
		for s.err == nil && !s.done {
			s.Read(buf)
		}
	}
	if s.err != nil {
		if errors.Is(s.err, ErrDamaged) {
			return nil, s.err
		}
		return s.res, s.err
	}
	fillSignature(s.res, s.md)
	return s.res, nil
}

// fillSignature reads the signature outcome, valid only after EOF.
func fillSignature(res *Result, md *openpgp.MessageDetails) {
	if !md.IsSigned {
		return
	}
	res.Signed = true
	res.SignerKeyID = keyID(md.SignedByKeyId)
	switch {
	case md.SignedBy == nil:
		// go-crypto leaves SignatureError nil here: nil does NOT mean good.
		res.SignatureError = SigUnknownSigner
	case md.SignatureError != nil:
		res.SignatureError = sigReason(md.SignatureError)
	case md.Signature == nil:
		res.SignatureError = SigBad + ": no signature packet"
	default:
		res.SignatureValid = true
		res.SignerFingerprint = fingerprint(md.SignedBy.Entity.PrimaryKey.Fingerprint)
		// go-crypto sets md.Signature only to the packet whose issuer is the
		// one-pass signer and that it verified: its time is the signed one.
		res.SignatureTime = md.Signature.CreationTime
	}
}

func sigReason(err error) string {
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return SigUnknownSigner
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return SigKeyExpired
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return SigKeyRevoked
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return SigExpired
	}
	return SigBad + ": " + err.Error()
}

func keyIDs(ids []uint64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, keyID(id))
	}
	return out
}

// classifyReadError maps an error from openpgp.ReadMessage (before any
// plaintext was read) to our sentinels.
// binary opens the block again, as binary packets.
func classifyReadError(err error, binary func() (io.Reader, error), ours openpgp.EntityList) error {
	if errors.Is(err, pgperrors.ErrKeyIncorrect) {
		var ids []uint64
		var sym bool
		if bin, err := binary(); err == nil {
			ids, sym = recipients(bin)
		}
		for _, id := range ids {
			if id != 0 && len(ours.KeysById(id)) > 0 {
				// Addressed to us, but the session key did not decrypt.
				return fmt.Errorf("%w: session key for %s does not decrypt", ErrDamaged, keyID(id))
			}
		}
		return &NoKeyError{KeyIDs: keyIDs(ids), Symmetric: sym}
	}
	var unsup pgperrors.UnsupportedError
	if errors.As(err, &unsup) && bytes.Contains([]byte(unsup), []byte("integrity")) {
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	switch {
	case errors.Is(err, pgperrors.ErrMDCMissing), errors.Is(err, pgperrors.ErrMDCHashMismatch),
		errors.Is(err, pgperrors.ErrAEADTagVerification):
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	case errors.Is(err, pgperrors.ErrMessageTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	var dec pgperrors.DecryptWithSessionKeyError
	if errors.As(err, &dec) {
		// Session key recovered, decrypted packets unreadable.
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	return fmt.Errorf("%w: %v", ErrDamaged, err)
}

// recipients lists the key ids of the PKESK packets and whether an SKESK
// (passphrase) packet is present.
func recipients(bin io.Reader) (ids []uint64, symmetric bool) {
	defer func() { _ = recover() }()
	pr := packet.NewReader(bin)
	for i := 0; i < maxPackets; i++ {
		p, err := pr.Next()
		if err != nil {
			return ids, symmetric
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			ids = append(ids, p.KeyId)
		case *packet.SymmetricKeyEncrypted:
			symmetric = true
		default:
			return ids, symmetric
		}
	}
	return ids, symmetric
}

// dearmor returns the binary packets of r, which holds either binary
// OpenPGP or an ASCII-armored PGP MESSAGE, as a stream.
func dearmor(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(1)
	if len(first) == 0 {
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		return nil, fmt.Errorf("%w: empty", ErrDamaged)
	}
	if first[0]&0x80 != 0 { // RFC 9580 section 4.2: bit 7 of a packet header is always set
		return br, nil
	}
	// The first line holding "-----BEGIN PGP " says what this is. QUIRK:
	// text before it is skipped (armor.Decode does the same).
	var rest []byte
	for {
		line, err := br.ReadSlice('\n')
		if i := bytes.Index(line, []byte("-----BEGIN PGP ")); i >= 0 {
			rest = bytes.Clone(line[i:])
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return nil, fmt.Errorf("%w: neither binary OpenPGP nor armor", ErrDamaged)
		}
	}
	switch {
	case bytes.HasPrefix(rest, []byte("-----BEGIN PGP SIGNED MESSAGE-----")):
		return nil, fmt.Errorf("%w: clearsigned text", ErrNotEncrypted)
	case bytes.HasPrefix(rest, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")),
		bytes.HasPrefix(rest, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")):
		return nil, fmt.Errorf("%w: an OpenPGP key block", ErrNotEncrypted)
	case bytes.HasPrefix(rest, []byte("-----BEGIN PGP SIGNATURE-----")):
		return nil, fmt.Errorf("%w: a detached signature", ErrNotEncrypted)
	}
	// QUIRK: armor.Decode tolerates a missing CRC line (RFC 9580 section
	// 6.1 makes it optional).
	block, err := armor.Decode(io.MultiReader(bytes.NewReader(rest), br))
	if err != nil {
		return nil, fmt.Errorf("%w: armor: %v", ErrDamaged, err)
	}
	if block.Type != openpgp.MessageType {
		return nil, fmt.Errorf("%w: armor type %q", ErrDamaged, truncate(block.Type, 40))
	}
	body := bufio.NewReader(armorErrReader{block.Body})
	if _, err := body.Peek(1); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: empty armor", ErrDamaged)
		}
		return nil, err
	}
	return body, nil
}

// armorErrReader marks the errors of an armor body as damage.
type armorErrReader struct{ r io.Reader }

func (a armorErrReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: armor: %v", ErrDamaged, err)
	}
	return n, err
}

// checkFraming walks the top-level packet headers (RFC 9580 section 4.2)
// of the stream r, without decrypting anything and without holding more
// than a buffer of it. It finds truncated data before go-crypto would report
// it as a vague error from inside the decrypted stream, refuses ciphertext
// without integrity protection (tag 9, EFAIL) and recognises data that is
// not an encrypted message.
func checkFraming(r io.Reader) error {
	br := bufio.NewReaderSize(r, 32<<10)
	// skip passes over l bytes of packet body; short means truncated.
	skip := func(l int64, tag int) error {
		n, err := io.CopyN(io.Discard, br, l)
		if n < l {
			if err != nil && err != io.EOF {
				return readErr(err)
			}
			return fmt.Errorf("%w: truncated (packet tag %d)", ErrDamaged, tag)
		}
		return nil
	}
	// length reads a big-endian length of k octets.
	length := func(k int) (int64, error) {
		var l int64
		for range k {
			c, err := br.ReadByte()
			if err != nil {
				if err != io.EOF {
					return 0, readErr(err)
				}
				return 0, fmt.Errorf("%w: truncated packet header", ErrDamaged)
			}
			l = l<<8 | int64(c)
		}
		return l, nil
	}
	var first int // first packet that is not a session key, marker or padding
	for n := 1; ; n++ {
		hdr, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return readErr(err)
		}
		if n > maxPackets {
			return fmt.Errorf("%w: more than %d packets", ErrDamaged, maxPackets)
		}
		if hdr&0x80 == 0 {
			return fmt.Errorf("%w: invalid packet header", ErrDamaged)
		}
		var tag int
		if hdr&0x40 != 0 { // new format
			tag = int(hdr & 0x3f)
			for {
				l0, err := length(1)
				if err != nil {
					return err
				}
				var l int64
				partial := false
				switch {
				case l0 < 192:
					l = l0
				case l0 < 224:
					l1, err := length(1)
					if err != nil {
						return err
					}
					l = (l0-192)<<8 + l1 + 192
				case l0 == 255:
					if l, err = length(4); err != nil {
						return err
					}
				default:
					l, partial = 1<<(l0&0x1f), true
				}
				if err := skip(l, tag); err != nil {
					return err
				}
				if !partial {
					break
				}
			}
		} else { // old format
			tag = int(hdr>>2) & 0xf
			var l int64
			switch hdr & 3 {
			case 0:
				l, err = length(1)
			case 1:
				l, err = length(2)
			case 2:
				l, err = length(4)
			case 3: // indeterminate length: to the end of the data
				_, err = io.Copy(io.Discard, br)
				if err != nil {
					err = readErr(err)
				}
			}
			if err != nil {
				return err
			}
			if err := skip(l, tag); err != nil {
				return err
			}
		}
		if first == 0 {
			switch tag {
			case tagPKESK, tagSKESK, tagMarker, tagPadding:
			default:
				first = tag
			}
		}
	}
	switch first {
	case tagSEIPD, tagAEADEncData:
		return nil
	case tagSED:
		// RFC 9580 section 5.7: MUST NOT be decrypted without integrity protection (EFAIL).
		return fmt.Errorf("%w: symmetrically encrypted data without MDC", ErrIntegrity)
	case tagCompressed, tagLiteral, tagOnePassSig, tagSignature:
		return fmt.Errorf("%w: signed-only or plain OpenPGP data", ErrNotEncrypted)
	case tagPublicKey, tagSecretKey, tagPublicSub, tagSecretSub, tagUserID:
		return fmt.Errorf("%w: an OpenPGP key block", ErrNotEncrypted)
	case 0:
		return fmt.Errorf("%w: session keys without encrypted data", ErrDamaged)
	}
	return fmt.Errorf("%w: unexpected packet tag %d", ErrDamaged, first)
}

// readErr is a failure to read the block itself (bad armor, an I/O error).
func readErr(err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrDamaged, err)
}

// readBounded reads r to EOF, failing with ErrTooLarge past max bytes. It
// grows in fixed chunks so that memory stays near max even when it fails.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	const chunk = 64 << 10
	var chunks [][]byte
	var total int64
	buf := make([]byte, 0, chunk)
	for {
		if len(buf) == cap(buf) {
			chunks = append(chunks, buf)
			buf = make([]byte, 0, chunk)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		total += int64(n)
		if total > max {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, buf...), nil
}
