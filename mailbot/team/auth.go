package team

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"mailbot/mailbot/parse"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/triage"
)

// Authentication methods, as in Verdict.Method.
const (
	MethodPGP     = "pgp"
	MethodDKIM    = "dkim"
	MethodAuthres = "authres"
)

// DefaultMaxAge is Options.MaxAge when it is zero.
const DefaultMaxAge = 7 * 24 * time.Hour

// maxSkew is how far in the future a Date or signature time may lie.
const maxSkew = time.Hour

// maxSignatureDateSkew is how far an OpenPGP signature's creation time may
// lie from the Date field. A mail client signs when the member presses send
// and stamps Date at the same moment from the same clock, so the two differ
// by seconds; an hour (as maxSkew) leaves room for a queued outbox or a slow
// smartcard. OpenPGP does not sign Date: the bound keeps an old signature
// from riding on a fresh Date, so MaxAge is what the signature says, too.
const maxSignatureDateSkew = maxSkew

// maxDKIMSignatures bounds the DKIM signatures checked per mail (each may
// cost a DNS lookup).
const maxDKIMSignatures = 5

// dkimRequired are the header fields an aligned DKIM signature must cover:
// From (whose mail it is), Date (MaxAge), Message-ID (the replay key) and
// Subject (which case the commands are for).
var dkimRequired = []string{"from", "date", "message-id", "subject"}

// dkimOversigned are the fields that pick the case or the replay key: each
// one present must be named in h= once more than it occurs, so that a copy
// added on top breaks the signature (RFC 6376 sections 5.4.2 and 8.15).
var dkimOversigned = []string{"subject", "date", "message-id", "in-reply-to", "references"}

// Options configure Authenticate.
type Options struct {
	// TrustedAuthServID is the authserv-id (RFC 8601 section 2.2) of the
	// receiving server whose Authentication-Results are believed, e.g.
	// "mx.example.org". Empty: Authentication-Results are ignored. Set it
	// only when that server adds the header to every mail it accepts, and
	// preferably removes forged ones with its id (RFC 8601 section 5).
	// A field without an authserv-id (Microsoft 365 writes them) matches
	// no value: the sender can add one and nothing says who wrote it.
	TrustedAuthServID string
	// LookupTXT resolves DKIM key records; nil means net.LookupTXT.
	LookupTXT func(domain string) ([]string, error)
	// MaxAge refuses mail whose Date (and OpenPGP signature time) is older;
	// zero means DefaultMaxAge. Keep seen replay keys at least this long.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSize bounds the raw message read; zero means pgp.DefaultMaxSize.
	MaxSize int64
	// Seen reports whether a replay key was already used; nil means never.
	Seen func(replayKey string) bool
	// Decrypt decrypts one OpenPGP block sent to the bot, checking its
	// signature against verify only (pgp.Keyring.Decrypt). Nil: encrypted
	// team mail is refused.
	Decrypt func(block []byte, verify openpgp.EntityList) (*pgp.Result, error)
}

// Verdict is the outcome of Authenticate.
type Verdict struct {
	OK     bool
	Member Member // the sender when it is a team member, also when not OK
	Method string // MethodPGP, MethodDKIM or MethodAuthres when OK
	Reason string // why not OK; for OK, what passed
	// Temporary: not OK for now (a DNS failure, the raw message could not
	// be read); retry later instead of refusing.
	Temporary bool
	// ReplayKey identifies what was authenticated; store it when the
	// commands were applied and refuse it again (Options.Seen).
	ReplayKey string
	// Text is the authenticated text to parse commands from: for PGP the
	// signed part, which is the whole message, else the message text.
	Text string
	// Subject is the Subject that signed data carries: for pgp the
	// protected Subject of the signed part (RFC 9788), "" when it has none;
	// for dkim the signed and oversigned Subject; "" for authres, where we
	// cannot see what the signature covered.
	Subject string
	// Thread is In-Reply-To, then References newest first (ThreadIDs):
	// for pgp the protected ones of the signed part when it has any, else
	// (and for dkim and authres) the outer ones. Outside dkim they are not
	// signed: count only ids of mail the bot sent to this member
	// (unguessable, seen by her alone).
	Thread []string
}

// SignedRef returns the case reference that signed data names: the tag in
// the signed Subject, else the first tag on an unquoted line of the signed
// text. Authentication-Results vouch for a DKIM check we cannot see the
// h= and l= of, so nothing of an authres mail counts here: its case comes
// only from Thread (a reply to a mail the bot sent that member).
func (v Verdict) SignedRef(prefix string) string {
	if !v.OK || v.Method == MethodAuthres {
		return ""
	}
	if ref, ok := triage.SubjectTag(v.Subject, prefix); ok {
		return ref
	}
	for line := range strings.Lines(v.Text) {
		if strings.HasPrefix(strings.TrimSpace(line), ">") {
			continue
		}
		if ref, ok := triage.SubjectTag(line, prefix); ok {
			return ref
		}
	}
	return ""
}

// ChooseCase picks the case reference a team mail acts on: signed is
// Verdict.SignedRef, thread the case of the bot's mail to this member that
// the mail answers (Verdict.Thread), outer the tag in the unsigned outer
// Subject. The outer Subject never picks a case; when it names another case
// than the signed data or the thread, the mail is refused (conflict set):
// it was relabelled. ref is "" when nothing signed names a case.
func ChooseCase(signed, thread, outer string) (ref, conflict string) {
	ref = signed
	if ref == "" {
		ref = thread
	}
	switch {
	case signed != "" && thread != "" && !strings.EqualFold(signed, thread):
		return "", fmt.Sprintf("the signed text names %s but the mail answers one about %s", shorten(signed), shorten(thread))
	case outer != "" && ref != "" && !strings.EqualFold(outer, ref):
		return "", fmt.Sprintf("the unsigned Subject names %s but the authenticated data %s", shorten(outer), shorten(ref))
	}
	return ref, ""
}

func refuse(v Verdict, format string, args ...any) Verdict {
	v.OK = false
	v.Reason = fmt.Sprintf(format, args...)
	return v
}

// Authenticate decides whether m is a mail from a team member. raw opens the
// message bytes m was parsed from (read once, up to opts.MaxSize). A mail
// counts only when it has one From field naming a member, no repeated
// Subject, Date, Message-ID, In-Reply-To or References field, and one of
// these passes, tried in this order:
//
//   - pgp, encrypted: the mail is exactly one OpenPGP block sent to the bot
//     (opts.Decrypt) and nothing beside it (no second block, no text
//     outside the armor, no attachment, no signed part); its plaintext is
//     signed as one unit by one of that member's keys, either signed and
//     encrypted in one OpenPGP message (RFC 3156 section 6.2) or an
//     encrypted multipart/signed (section 6.1) that is the whole plaintext;
//   - pgp, signed: the whole message is one PGP/MIME signed entity (RFC 3156
//     section 5) or one cleartext-signed text (RFC 4880 section 7), with no
//     unsigned text or part beside it;
//   - dkim: a valid DKIM signature (RFC 6376) whose d= is the From domain or
//     a parent of it (relaxed alignment, RFC 7489 section 3.1.1), that
//     covers From, Date, Message-ID and Subject, oversigns every Subject,
//     Date, Message-ID, In-Reply-To and References field present, and
//     covers the whole body (no l= tag);
//   - authres: the topmost Authentication-Results field whose authserv-id
//     is opts.TrustedAuthServID says dkim=pass with an aligned header.d, or
//     dmarc=pass for the From domain (checkAuthres). Fields of other
//     authserv-ids, fields without one, and lower fields with the trusted
//     id (forgeries the sender added before the trusted server added its
//     own) are ignored; a trusted field that cannot be read refuses.
//
// For pgp the signing key must be one for the From address
// (pgp.KeyForAddress), its signature time within MaxAge and within an hour
// of Date, and the replay key is the signer, the signature time and the
// signed content: never the armor or ciphertext, which anyone can re-make.
// A mail that carries a member's valid signature but also anything unsigned
// is refused, never merged.
//
// Also refused: a missing Message-ID, a Date older than MaxAge or more than
// an hour ahead, and a replay key opts.Seen knows.
func Authenticate(m *parse.Message, raw func() (io.ReadCloser, error), roster *Roster, opts Options) (v Verdict) {
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	// Signatures are verified at the same clock (key validity, creation
	// time not in the future).
	at := pgp.Options{Now: func() time.Time { return now }}
	maxAge := opts.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if m == nil || roster == nil {
		return refuse(v, "no message or no team")
	}
	if m.FromCount > 1 {
		return refuse(v, "%d From fields: refused", m.FromCount)
	}
	if len(m.From) != 1 {
		return refuse(v, "From must name exactly one address, it names %d", len(m.From))
	}
	from := strings.TrimSpace(m.From[0].Address)
	member, ok := roster.ByAddress(from)
	if !ok {
		return refuse(v, "%s is not a team member", shorten(from))
	}
	v.Member = member
	// RFC 5322 section 3.6: each of these at most once. A second copy is
	// how a signed mail is relabelled (a verifier reads the bottom one, a
	// reader the top one).
	if len(m.Repeated) > 0 {
		return refuse(v, "repeated header fields: %s", strings.Join(m.Repeated, ", "))
	}
	fromDomain := strings.ToLower(from[strings.LastIndexByte(from, '@')+1:])
	if m.MessageID == "" {
		return refuse(v, "no Message-ID")
	}
	if r := checkTime("Date", m.Date, now, maxAge); r != "" {
		return refuse(v, "%s", r)
	}

	data, err := readRaw(raw, opts.MaxSize)
	if err != nil {
		v = refuse(v, "read message: %v", err)
		v.Temporary = !errors.Is(err, pgp.ErrTooLarge)
		return v
	}

	outerThread := triage.ThreadIDs(m)
	var reasons []string
	temporary := false
	accept := func(method, key, text, what, subject string, thread []string) Verdict {
		if opts.Seen != nil && opts.Seen(key) {
			return refuse(v, "replayed: this %s-authenticated mail was seen before", method)
		}
		return Verdict{OK: true, Member: member, Method: method, Reason: what, ReplayKey: key, Text: text, Subject: subject, Thread: thread}
	}
	acceptPGP := func(u *signedUnit, what string) Verdict {
		if r := u.check(member, from, m.Date, now, maxAge); r != "" {
			return refuse(v, "pgp: %s", r)
		}
		thread := u.thread
		if len(thread) == 0 {
			thread = outerThread
		}
		key := replayKey(MethodPGP, u.fingerprint, strconv.FormatInt(u.time.Unix(), 10), string(u.content))
		return accept(MethodPGP, key, u.text, what+u.fingerprint, u.subject, thread)
	}

	// (a) OpenPGP ciphertext: only as one signed unit, whatever else the
	// mail carries (DKIM on ciphertext says nothing of who signed inside).
	if len(m.PGP) > 0 || m.PGPDropped > 0 {
		u, r := checkEncrypted(m, data, member, opts.Decrypt, at)
		if r != "" {
			return refuse(v, "pgp: %s", r)
		}
		return acceptPGP(u, "pgp: signed and encrypted by ")
	}

	// (b) OpenPGP signature, against this member's keys only.
	if len(member.Keys) > 0 {
		u, r, mixed := checkPGP(data, member, at)
		switch {
		case r == "":
			return acceptPGP(u, "pgp: signed by ")
		case mixed:
			// The member's signature is there, but so is something
			// unsigned: never merged, never passed on to DKIM.
			return refuse(v, "pgp: %s", r)
		}
		reasons = append(reasons, "pgp: "+r)
	}

	// (c) DKIM.
	d, r, temp := checkDKIM(data, fromDomain, m.MessageID, opts.LookupTXT)
	if r == "" {
		return accept(MethodDKIM, d, m.Text, "dkim: aligned signature verified", m.Subject, outerThread)
	}
	temporary = temporary || temp
	reasons = append(reasons, "dkim: "+r)

	// (d) Authentication-Results of the trusted server.
	if opts.TrustedAuthServID != "" {
		what, r := checkAuthres(m.Header, opts.TrustedAuthServID, fromDomain)
		if r == "" {
			key := replayKey(MethodAuthres, m.MessageID, m.Date.UTC().Format(time.RFC3339), m.Text)
			return accept(MethodAuthres, key, m.Text, what, "", outerThread)
		}
		reasons = append(reasons, "authres: "+r)
	}
	v = refuse(v, "not authenticated (%s)", strings.Join(reasons, "; "))
	v.Temporary = temporary
	return v
}

func checkTime(what string, t, now time.Time, maxAge time.Duration) string {
	switch {
	case t.IsZero():
		return "no " + what
	case now.Sub(t) > maxAge:
		return fmt.Sprintf("%s %s is older than %s", what, t.UTC().Format(time.RFC3339), maxAge)
	case t.Sub(now) > maxSkew:
		return fmt.Sprintf("%s %s is in the future", what, t.UTC().Format(time.RFC3339))
	}
	return ""
}

func readRaw(raw func() (io.ReadCloser, error), max int64) ([]byte, error) {
	if raw == nil {
		return nil, errors.New("no raw message")
	}
	if max <= 0 {
		max = pgp.DefaultMaxSize
	}
	rc, err := raw()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: message over %d bytes", pgp.ErrTooLarge, max)
	}
	return data, nil
}

// replayKey hashes the parts that identify what was authenticated.
func replayKey(method string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return method + ":" + hex.EncodeToString(h.Sum(nil))
}

// signedUnit is what one OpenPGP signature of a member covers.
type signedUnit struct {
	fingerprint string    // of the signer's primary key
	time        time.Time // creation time of the signature packet that verified
	content     []byte    // the signed bytes: the replay key's content
	text        string    // the text to read commands from
	subject     string    // protected Subject of the signed part (RFC 9788), if any
	thread      []string  // its protected In-Reply-To and References, if any
}

// check refuses a signature by a key of the member that does not carry the
// From address, or whose time is outside MaxAge or far from Date.
func (u *signedUnit) check(member Member, from string, date, now time.Time, maxAge time.Duration) string {
	signer := memberKey(member, u.fingerprint)
	if signer == nil {
		return "signer key not found"
	}
	// The key that signed must be one for the From address, not another
	// identity of the same member.
	if pgp.KeyForAddress(openpgp.EntityList{signer}, from) == nil {
		return fmt.Sprintf("signing key %s does not carry the address %s", u.fingerprint, shorten(from))
	}
	if r := checkTime("signature time", u.time, now, maxAge); r != "" {
		return r
	}
	if d := u.time.Sub(date).Abs(); d > maxSignatureDateSkew {
		return fmt.Sprintf("signature time %s is %s away from Date", u.time.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	return ""
}

// memberKey returns the member's key whose primary fingerprint (uppercase
// hex, as pgp.Result gives it) is fp; the last one when listed twice.
func memberKey(member Member, fp string) *openpgp.Entity {
	var signer *openpgp.Entity
	for _, e := range member.Keys {
		if e != nil && e.PrimaryKey != nil && fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) == fp {
			signer = e
		}
	}
	return signer
}

// signedPart fills u's text, subject and thread from a signed MIME entity.
func (u *signedUnit) signedPart(entity []byte) error {
	msg, err := parse.Parse(bytes.NewReader(entity), parse.Limits{})
	if err != nil {
		return fmt.Errorf("signed part: %v", err)
	}
	u.text = msg.Text
	if msg.Header.Has("Subject") {
		u.subject = msg.Subject
	}
	u.thread = triage.ThreadIDs(msg)
	return nil
}

// checkEncrypted returns the one signed unit of a mail carrying OpenPGP
// ciphertext, or why there is none.
func checkEncrypted(m *parse.Message, data []byte, member Member, decrypt func([]byte, openpgp.EntityList) (*pgp.Result, error), at pgp.Options) (*signedUnit, string) {
	switch {
	case decrypt == nil:
		return nil, "encrypted mail cannot be read here"
	case len(member.Keys) == 0:
		return nil, "encrypted mail from a member without an OpenPGP key"
	case len(m.PGP) != 1 || m.PGPDropped > 0:
		return nil, fmt.Sprintf("%d encrypted blocks: a command mail must be one signed unit", len(m.PGP)+m.PGPDropped)
	case m.Signed:
		return nil, "a signed part beside the encrypted one"
	case len(m.Attachments) > 0 || len(m.Keys) > 0:
		return nil, "an unsigned attachment beside the encrypted part"
	case strings.TrimSpace(withoutArmor(m.Text)) != "":
		return nil, "unsigned text beside the encrypted part"
	}
	b := m.PGP[0]
	block := b.Data
	if block == nil && b.Length > 0 {
		var err error
		if block, err = io.ReadAll(b.Open(bytes.NewReader(data))); err != nil {
			return nil, "cannot read the encrypted part: " + err.Error()
		}
	}
	res, err := decrypt(block, member.Keys)
	if err != nil {
		return nil, "cannot decrypt: " + err.Error()
	}
	mime := b.Kind == "pgp-mime" || b.Kind == "mixed-up"
	if !res.Signed && mime {
		// RFC 3156 section 6.1: signed, then encrypted. The plaintext must
		// be the multipart/signed entity and nothing else.
		u, r, _ := checkPGP(res.Plaintext, member, at)
		if r != "" {
			return nil, "encrypted, and inside: " + r
		}
		return u, ""
	}
	switch {
	case !res.Signed:
		return nil, "encrypted but not signed"
	case !res.SignatureValid:
		return nil, fmt.Sprintf("%s (issuer %s is not a key of %s)", res.SignatureError, res.SignerKeyID, member.Address)
	}
	u := &signedUnit{fingerprint: res.SignerFingerprint, time: res.SignatureTime, content: res.Plaintext, text: string(res.Plaintext)}
	if mime {
		if err := u.signedPart(res.Plaintext); err != nil {
			return nil, err.Error()
		}
	}
	return u, ""
}

// withoutArmor is text with its armored OpenPGP messages cut out.
func withoutArmor(text string) string {
	const begin, end = "-----BEGIN PGP MESSAGE-----", "-----END PGP MESSAGE-----"
	for {
		i := strings.Index(text, begin)
		if i < 0 {
			return text
		}
		j := strings.Index(text[i:], end)
		if j < 0 {
			return text[:i]
		}
		text = text[:i] + text[i+j+len(end):]
	}
}

// checkPGP returns the signed unit of a mail that is one PGP signed entity,
// or why there is none. mixed is true when the member's signature verified
// but the message holds something beside what it covers: refuse, never
// fall back to another method.
//
// The replay key is not built from the Message-ID: OpenPGP does not sign
// it, so a replay with a fresh Message-ID would pass. It is the signer, the
// signature's creation time (hashed, so it cannot be changed) and the signed
// content.
func checkPGP(data []byte, member Member, at pgp.Options) (u *signedUnit, reason string, mixed bool) {
	at.MaxSize = int64(len(data)) + 1
	res, err := at.VerifyMessage(bytes.NewReader(data), member.Keys)
	switch {
	case errors.Is(err, pgp.ErrNotSigned):
		return nil, "not signed", false
	case err != nil:
		return nil, err.Error(), false
	case !res.SignatureValid:
		return nil, fmt.Sprintf("%s (issuer %s is not a key of %s)", res.SignatureError, res.SignerKeyID, member.Address), false
	}
	signer := memberKey(member, res.SignerFingerprint)
	if signer == nil {
		return nil, "signer key not found", false
	}
	u, err = bindSignature(data, res, signer, at)
	if errors.Is(err, errBeside) {
		return nil, err.Error(), true
	}
	if err != nil {
		return nil, err.Error(), false
	}
	return u, "", false
}

// errBeside: the signature covers part of the message only.
var errBeside = errors.New("the signature does not cover the whole message: unsigned parts or text beside it")

// bindSignature finds the signature VerifyMessage checked (the same walk:
// the first multipart/signed, else the first cleartext-signed text part),
// makes sure it is that one by verifying it again over the same content with
// the signer's key only, makes sure it covers the whole message (errBeside),
// and returns the signed unit.
func bindSignature(data []byte, res *pgp.Result, signer *openpgp.Entity, at pgp.Options) (*signedUnit, error) {
	data = pgp.ToCRLF(data)
	if bytes.HasPrefix(data, []byte("From ")) {
		// QUIRK: an mbox "From " line, as VerifyMessage skips it.
		if i := bytes.Index(data, []byte("\r\n")); i >= 0 {
			data = data[i+2:]
		}
	}
	br := bufio.NewReader(bytes.NewReader(data))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("header: %v", err)
	}
	f := &sigFinder{}
	f.walk(h, br, 0)
	one := openpgp.EntityList{signer}
	u := &signedUnit{fingerprint: res.SignerFingerprint, content: res.Plaintext}
	var sigData []byte
	switch {
	case f.sig != nil:
		r, err := at.VerifyDetached(bytes.NewReader(f.signed), f.sig, one)
		if err != nil || !r.SignatureValid || !bytes.Equal(r.Plaintext, res.Plaintext) {
			return nil, errors.New("signature could not be bound to the signed part")
		}
		if f.depth != 0 || f.extra {
			// RFC 3156 section 5: the multipart/signed must be the
			// message, with its two parts only.
			return nil, errBeside
		}
		sigData = f.sig
		if err := u.signedPart(res.Plaintext); err != nil {
			return nil, err
		}
	case f.clear != nil:
		r, err := at.VerifyClearsigned(f.clear, one)
		if err != nil || !r.SignatureValid || !bytes.Equal(r.Plaintext, res.Plaintext) {
			return nil, errors.New("signature could not be bound to the signed text")
		}
		b, rest := clearsign.Decode(f.clear)
		if b == nil {
			return nil, errors.New("broken cleartext signature")
		}
		if f.depth != 0 || !bytes.HasPrefix(bytes.TrimSpace(f.clear), []byte("-----BEGIN PGP SIGNED MESSAGE-----")) || len(bytes.TrimSpace(rest)) > 0 {
			return nil, errBeside
		}
		if sigData, err = io.ReadAll(b.ArmoredSignature.Body); err != nil {
			return nil, fmt.Errorf("cleartext signature: %v", err)
		}
		u.text = string(res.Plaintext)
	default:
		return nil, errors.New("signature not found again")
	}
	sig, err := signaturePacket(sigData, signer)
	if err != nil {
		return nil, err
	}
	u.time = sig.CreationTime
	return u, nil
}

// signaturePacket returns the first signature packet (armored or binary)
// issued by one of signer's keys.
func signaturePacket(data []byte, signer *openpgp.Entity) (sig *packet.Signature, err error) {
	defer func() {
		if r := recover(); r != nil {
			sig, err = nil, fmt.Errorf("signature packet: panic: %v", r)
		}
	}()
	var r io.Reader = bytes.NewReader(data)
	if bytes.Contains(data, []byte("-----BEGIN PGP SIGNATURE-----")) {
		b, err := armor.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("signature armor: %v", err)
		}
		r = b.Body
	}
	ids := map[uint64]bool{signer.PrimaryKey.KeyId: true}
	for _, s := range signer.Subkeys {
		ids[s.PublicKey.KeyId] = true
	}
	pr := packet.NewReader(r)
	for range 16 {
		p, err := pr.Next()
		if err != nil {
			break
		}
		s, ok := p.(*packet.Signature)
		if !ok || s.IssuerKeyId == nil || !ids[*s.IssuerKeyId] {
			continue
		}
		return s, nil
	}
	return nil, errors.New("no signature packet by the signer")
}

// sigFinder mirrors the walk of pgp.VerifyMessage.
type sigFinder struct {
	parts       int
	signed, sig []byte // multipart/signed
	clear       []byte // cleartext-signed text part
	found       bool
	depth       int  // of what was found: 0 is the message itself
	extra       bool // multipart/signed: a part after the signature
}

func (f *sigFinder) walk(h textproto.Header, body io.Reader, depth int) {
	f.parts++
	if f.found || depth > 10 || f.parts > 200 {
		return
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	t, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t, params = "text/plain", nil // QUIRK: as pgp does
	}
	t = strings.ToLower(t)
	switch {
	case t == "multipart/signed" && strings.EqualFold(params["protocol"], "application/pgp-signature"):
		f.found, f.depth = true, depth
		mr := textproto.NewMultipartReader(body, params["boundary"])
		p, err := mr.NextPart()
		if err != nil {
			return
		}
		var signed bytes.Buffer
		if textproto.WriteHeader(&signed, p.Header) != nil {
			return
		}
		if _, err := io.Copy(&signed, p); err != nil {
			return
		}
		p, err = mr.NextPart()
		if err != nil {
			return
		}
		sig, err := pgp.DecodeCTE(p.Header.Get("Content-Transfer-Encoding"), p)
		if err != nil {
			return
		}
		f.signed, f.sig = signed.Bytes(), sig
		_, err = mr.NextPart()
		f.extra = err != io.EOF
	case strings.HasPrefix(t, "multipart/") && t != "multipart/encrypted":
		if params["boundary"] == "" {
			return
		}
		mr := textproto.NewMultipartReader(body, params["boundary"])
		for !f.found {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			f.walk(p.Header, p, depth+1)
		}
	case strings.HasPrefix(t, "text/"):
		text, err := pgp.DecodeCTE(h.Get("Content-Transfer-Encoding"), body)
		if err == nil && bytes.Contains(text, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
			f.found, f.depth = true, depth
			f.clear = text
		}
	}
}

// aligned reports relaxed identifier alignment: d is the From domain or a
// parent of it (RFC 7489 section 3.1.1, without the public suffix list: a
// single label such as "com" never aligns).
func aligned(d, fromDomain string) bool {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	fromDomain = strings.TrimSuffix(fromDomain, ".")
	if d == "" || !strings.Contains(d, ".") {
		return false
	}
	return d == fromDomain || strings.HasSuffix(fromDomain, "."+d)
}

// checkDKIM returns the replay key of the first valid aligned signature that
// covers the required fields (oversigned) and the whole body, or why there is none and whether a temporary
// failure (DNS) stood in the way.
func checkDKIM(data []byte, fromDomain, msgID string, lookup func(string) ([]string, error)) (key, reason string, temporary bool) {
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxDKIMSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return "", err.Error(), false
	}
	if len(verifs) == 0 {
		return "", "no signature", false
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data)))
	var sigs []dkimField
	if err == nil {
		sigs = dkimSignatures(h)
	}
	var why []string
	for i, v := range verifs {
		switch {
		case v.Err != nil:
			temporary = temporary || dkim.IsTempFail(v.Err)
			why = append(why, fmt.Sprintf("d=%s: %v", v.Domain, v.Err))
			continue
		case !aligned(v.Domain, fromDomain):
			why = append(why, fmt.Sprintf("d=%s is not aligned with %s", v.Domain, fromDomain))
			continue
		}
		if missing := unsigned(v.HeaderKeys); missing != "" {
			why = append(why, fmt.Sprintf("d=%s does not sign %s", v.Domain, missing))
			continue
		}
		if f := notOversigned(v.HeaderKeys, h); f != "" {
			why = append(why, fmt.Sprintf("d=%s does not oversign %s (h= must name it once more than it occurs)", v.Domain, f))
			continue
		}
		if i >= len(sigs) {
			why = append(why, fmt.Sprintf("d=%s: signature field not found", v.Domain))
			continue
		}
		if sigs[i].bodyLength {
			// RFC 6376 section 8.2: with l= anything appended to the body
			// passes.
			why = append(why, fmt.Sprintf("d=%s signs only part of the body (l=)", v.Domain))
			continue
		}
		return replayKey(MethodDKIM, strings.ToLower(v.Domain), msgID, sigs[i].b), "", false
	}
	return "", strings.Join(why, "; "), temporary
}

// notOversigned returns the first field of dkimOversigned that h holds and
// keys (h= of a signature) name no more often than it occurs, so that a copy
// of it added on top would not break the signature (RFC 6376 section 5.4.2).
func notOversigned(keys []string, h textproto.Header) string {
	for _, f := range dkimOversigned {
		n := len(h.Values(f))
		if n == 0 {
			continue
		}
		signed := 0
		for _, k := range keys {
			if strings.EqualFold(strings.TrimSpace(k), f) {
				signed++
			}
		}
		if signed <= n {
			return f
		}
	}
	return ""
}

func unsigned(keys []string) string {
	for _, want := range dkimRequired {
		found := false
		for _, k := range keys {
			if strings.EqualFold(strings.TrimSpace(k), want) {
				found = true
				break
			}
		}
		if !found {
			return want
		}
	}
	return ""
}

// dkimField is what checkDKIM reads itself from a DKIM-Signature field.
type dkimField struct {
	b          string // the decoded signature
	bodyLength bool   // an l= tag: only part of the body is signed
}

// dkimSignatures reads every DKIM-Signature field of h, top to bottom, the
// order dkim.Verify reports them in.
func dkimSignatures(h textproto.Header) []dkimField {
	var out []dkimField
	for f := h.FieldsByKey("DKIM-Signature"); f.Next(); {
		var d dkimField
		for _, tag := range strings.Split(f.Value(), ";") {
			name, val, ok := strings.Cut(tag, "=")
			switch name = strings.TrimSpace(name); {
			case ok && name == "b":
				raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(val), ""))
				if err == nil {
					d.b = string(raw)
				}
			case ok && name == "l":
				d.bodyLength = true
			}
		}
		out = append(out, d)
	}
	return out
}

// checkAuthres reads the topmost Authentication-Results field of the trusted
// server (RFC 8601 section 5: a receiving server adds its field on top, so
// fields below it, and fields of other servers, may be the sender's). Its
// first dkim=pass whose header.d (or, when it has none, as Gmail writes it,
// the domain of header.i, which RFC 6376 section 3.5 keeps within d=) is
// aligned with fromDomain counts, or its dmarc=pass for fromDomain; a
// failing result of the same method beside it does not stop it (a second
// signature may fail). A field without an authserv-id (Microsoft 365)
// belongs to no server and never counts. A trusted field that cannot be
// read refuses: skipping it would let a forged one further down count.
func checkAuthres(h textproto.Header, trusted, fromDomain string) (what, reason string) {
	if trusted == "" {
		return "", "no trusted authserv-id"
	}
	results, found, err := TrustedResults(h, trusted)
	switch {
	case err != nil:
		return "", fmt.Sprintf("unparsable field of %s: %v", trusted, err)
	case !found:
		return "", "no Authentication-Results field of " + trusted
	}
	var why []string
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DKIMResult:
			prop, d := "header.d", r.Domain
			if d == "" && r.Identifier != "" {
				prop, d = "header.i", r.Identifier[strings.LastIndexByte(r.Identifier, '@')+1:]
			}
			if r.Value == authres.ResultPass && aligned(d, fromDomain) {
				return "authres: dkim=pass " + prop + "=" + d, ""
			}
			why = append(why, fmt.Sprintf("dkim=%s %s=%s", r.Value, prop, d))
		case *authres.DMARCResult:
			if r.Value == authres.ResultPass && strings.EqualFold(strings.TrimSuffix(r.From, "."), fromDomain) {
				return "authres: dmarc=pass header.from=" + r.From, ""
			}
			why = append(why, fmt.Sprintf("dmarc=%s header.from=%s", r.Value, r.From))
		}
	}
	if len(why) == 0 {
		return "", fmt.Sprintf("%s reports neither dkim nor dmarc", trusted)
	}
	return "", fmt.Sprintf("%s reports %s", trusted, strings.Join(why, ", "))
}

// SenderAuthenticated reports whether the topmost Authentication-Results
// field of the trusted server vouches for fromDomain: dkim=pass aligned
// with it, or dmarc=pass for it. It is the rule team mail is held to
// (checkAuthres), for mail outside the team path: acknowledgements echo
// nothing of a sender it does not vouch for.
func SenderAuthenticated(h textproto.Header, trusted, fromDomain string) bool {
	if trusted == "" || fromDomain == "" {
		return false
	}
	what, _ := checkAuthres(h, trusted, fromDomain)
	return what != ""
}

// TrustedResults returns the results of the topmost Authentication-Results
// field whose authserv-id is trusted: the one field checkAuthres reads (RFC
// 8601 section 5; lower fields with that id are forgeries added before the
// trusted server's own). found is false when there is no such field; err
// is set when that field does not parse, and then nothing below it counts.
// It lets other packages read the trusted server's other verdicts (dmarc=fail
// for mailbot/spam) by the same rule.
func TrustedResults(h textproto.Header, trusted string) (results []authres.Result, found bool, err error) {
	if trusted == "" {
		return nil, false, nil
	}
	for f := h.FieldsByKey("Authentication-Results"); f.Next(); {
		id, results, err := parseAuthres(f.Value())
		if err != nil {
			// Unreadable before its id: it may be the trusted server's,
			// and skipping it would let a forged one further down count.
			if strings.EqualFold(id, trusted) || id == "" && strings.Contains(strings.ToLower(f.Value()), strings.ToLower(trusted)) {
				return nil, true, err
			}
			continue
		}
		if id != "" && strings.EqualFold(id, trusted) {
			return results, true, nil
		}
	}
	return nil, false, nil
}
