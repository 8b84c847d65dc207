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

// maxDKIMSignatures bounds the DKIM signatures checked per mail (each may
// cost a DNS lookup).
const maxDKIMSignatures = 5

// dkimRequired are the header fields an aligned DKIM signature must cover:
// From (whose mail it is), Date (MaxAge), Message-ID (the replay key) and
// Subject (which case the commands are for).
var dkimRequired = []string{"from", "date", "message-id", "subject"}

// Options configure Authenticate.
type Options struct {
	// TrustedAuthServID is the authserv-id (RFC 8601 section 2.2) of the
	// receiving server whose Authentication-Results are believed, e.g.
	// "mx.example.org". Empty: Authentication-Results are ignored. Set it
	// only when that server adds the header to every mail it accepts, and
	// preferably removes forged ones with its id (RFC 8601 section 5).
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
	// signed part only (never text around it), else the message text.
	Text string
}

func refuse(v Verdict, format string, args ...any) Verdict {
	v.OK = false
	v.Reason = fmt.Sprintf(format, args...)
	return v
}

// Authenticate decides whether m is a mail from a team member. raw opens the
// message bytes m was parsed from (read once, up to opts.MaxSize). A mail
// counts only when it has one From field naming a member and one of these
// passes, tried in this order:
//
//   - pgp: a PGP/MIME or cleartext signature (pgp.VerifyMessage) by one of
//     that member's keys only, and the signing key carries the From
//     address (pgp.KeyForAddress); the signature time must be within MaxAge;
//   - dkim: a valid DKIM signature (RFC 6376) whose d= is the From domain or
//     a parent of it (relaxed alignment, RFC 7489 section 3.1.1) and that
//     covers From, Date, Message-ID and Subject;
//   - authres: the topmost Authentication-Results field whose authserv-id
//     is opts.TrustedAuthServID says dkim=pass with an aligned header.d, or
//     dmarc=pass for the From domain. Fields of other authserv-ids and
//     lower fields with the trusted id (forgeries the sender added before
//     the trusted server added its own) are ignored.
//
// Also refused: a missing Message-ID, a Date older than MaxAge or more than
// an hour ahead, and a replay key opts.Seen knows.
func Authenticate(m *parse.Message, raw func() (io.ReadCloser, error), roster *Roster, opts Options) (v Verdict) {
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
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

	var reasons []string
	temporary := false
	accept := func(method, key, text, what string) Verdict {
		if opts.Seen != nil && opts.Seen(key) {
			return refuse(v, "replayed: this %s-authenticated mail was seen before", method)
		}
		return Verdict{OK: true, Member: member, Method: method, Reason: what, ReplayKey: key, Text: text}
	}

	// (a) OpenPGP, against this member's keys only.
	if len(member.Keys) > 0 {
		text, key, what, r := checkPGP(data, member, from, now, maxAge)
		if r == "" {
			return accept(MethodPGP, key, text, what)
		}
		reasons = append(reasons, "pgp: "+r)
	}

	// (b) DKIM.
	d, r, temp := checkDKIM(data, fromDomain, m.MessageID, opts.LookupTXT)
	if r == "" {
		return accept(MethodDKIM, d, m.Text, "dkim: aligned signature verified")
	}
	temporary = temporary || temp
	reasons = append(reasons, "dkim: "+r)

	// (c) Authentication-Results of the trusted server.
	if opts.TrustedAuthServID != "" {
		what, r := checkAuthres(m.Header, opts.TrustedAuthServID, fromDomain)
		if r == "" {
			key := replayKey(MethodAuthres, m.MessageID, m.Date.UTC().Format(time.RFC3339), m.Text)
			return accept(MethodAuthres, key, m.Text, what)
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

// checkPGP returns the signed text, the replay key and a description, or
// why the signature does not count.
//
// The replay key is not built from the Message-ID: OpenPGP does not sign
// it, so a replay with a fresh Message-ID would pass. It is the signer, the
// signature's creation time (hashed, so it cannot be changed) and the signed
// content.
func checkPGP(data []byte, member Member, from string, now time.Time, maxAge time.Duration) (text, key, what, reason string) {
	res, err := pgp.VerifyMessage(bytes.NewReader(data), member.Keys, int64(len(data))+1)
	switch {
	case errors.Is(err, pgp.ErrNotSigned):
		return "", "", "", "not signed"
	case err != nil:
		return "", "", "", err.Error()
	case !res.SignatureValid:
		return "", "", "", fmt.Sprintf("%s (issuer %s is not a key of %s)", res.SignatureError, res.SignerKeyID, member.Address)
	}
	var signer *openpgp.Entity
	for _, e := range member.Keys {
		if e != nil && e.PrimaryKey != nil && fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) == res.SignerFingerprint {
			signer = e
		}
	}
	if signer == nil {
		return "", "", "", "signer key not found"
	}
	// The key that signed must be one for the From address, not another
	// identity of the same member.
	if pgp.KeyForAddress(openpgp.EntityList{signer}, from) == nil {
		return "", "", "", fmt.Sprintf("signing key %s does not carry the address %s", res.SignerFingerprint, shorten(from))
	}
	sig, signedText, err := bindSignature(data, res, signer)
	if err != nil {
		return "", "", "", err.Error()
	}
	if r := checkTime("signature time", sig.CreationTime, now, maxAge); r != "" {
		return "", "", "", r
	}
	key = replayKey(MethodPGP, res.SignerFingerprint, strconv.FormatInt(sig.CreationTime.Unix(), 10), string(res.Plaintext))
	return signedText, key, "pgp: signed by " + res.SignerFingerprint, ""
}

// bindSignature finds the signature VerifyMessage checked (the same walk:
// the first multipart/signed, else the first cleartext-signed text part),
// makes sure it is that one by verifying it again over the same content with
// the signer's key only, and returns the signature packet and the signed
// text.
func bindSignature(data []byte, res *pgp.Result, signer *openpgp.Entity) (*packet.Signature, string, error) {
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
		return nil, "", fmt.Errorf("header: %v", err)
	}
	f := &sigFinder{}
	f.walk(h, br, 0)
	one := openpgp.EntityList{signer}
	var (
		sigData []byte
		text    string
	)
	switch {
	case f.sig != nil:
		r, err := pgp.VerifyDetached(bytes.NewReader(f.signed), f.sig, one)
		if err != nil || !r.SignatureValid || !bytes.Equal(r.Plaintext, res.Plaintext) {
			return nil, "", errors.New("signature could not be bound to the signed part")
		}
		sigData = f.sig
		msg, err := parse.Parse(bytes.NewReader(res.Plaintext), parse.Limits{})
		if err != nil {
			return nil, "", fmt.Errorf("signed part: %v", err)
		}
		text = msg.Text
	case f.clear != nil:
		r, err := pgp.VerifyClearsigned(f.clear, one)
		if err != nil || !r.SignatureValid || !bytes.Equal(r.Plaintext, res.Plaintext) {
			return nil, "", errors.New("signature could not be bound to the signed text")
		}
		b, _ := clearsign.Decode(f.clear)
		if b == nil {
			return nil, "", errors.New("broken cleartext signature")
		}
		if sigData, err = io.ReadAll(b.ArmoredSignature.Body); err != nil {
			return nil, "", fmt.Errorf("cleartext signature: %v", err)
		}
		text = string(res.Plaintext)
	default:
		return nil, "", errors.New("signature not found again")
	}
	sig, err := signaturePacket(sigData, signer)
	if err != nil {
		return nil, "", err
	}
	return sig, text, nil
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
		f.found = true
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
			f.found = true
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
// covers the required fields, or why there is none and whether a temporary
// failure (DNS) stood in the way.
func checkDKIM(data []byte, fromDomain, msgID string, lookup func(string) ([]string, error)) (key, reason string, temporary bool) {
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxDKIMSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return "", err.Error(), false
	}
	if len(verifs) == 0 {
		return "", "no signature", false
	}
	sigs := dkimSignatures(data)
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
		b := ""
		if i < len(sigs) {
			b = sigs[i]
		}
		return replayKey(MethodDKIM, strings.ToLower(v.Domain), msgID, b), "", false
	}
	return "", strings.Join(why, "; "), temporary
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

// dkimSignatures returns the decoded b= value of every DKIM-Signature field,
// top to bottom, the order dkim.Verify reports them in.
func dkimSignatures(data []byte) []string {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil
	}
	var out []string
	for f := h.FieldsByKey("DKIM-Signature"); f.Next(); {
		b := ""
		for _, tag := range strings.Split(f.Value(), ";") {
			name, val, ok := strings.Cut(tag, "=")
			if ok && strings.TrimSpace(name) == "b" {
				raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(val), ""))
				if err == nil {
					b = string(raw)
				}
			}
		}
		out = append(out, b)
	}
	return out
}

// checkAuthres reads the topmost Authentication-Results field of the trusted
// server (RFC 8601).
func checkAuthres(h textproto.Header, trusted, fromDomain string) (what, reason string) {
	for f := h.FieldsByKey("Authentication-Results"); f.Next(); {
		id, results, err := authres.Parse(f.Value())
		if err != nil {
			// A field that does not parse still belongs to its server:
			// skipping it would let a forged one further down count.
			id, _, _ = strings.Cut(f.Value(), ";")
			if fs := strings.Fields(id); len(fs) > 0 {
				id = fs[0]
			}
		}
		if !strings.EqualFold(strings.TrimSpace(id), trusted) {
			continue
		}
		if err != nil {
			return "", fmt.Sprintf("unparsable field of %s: %v", trusted, err)
		}
		var why []string
		for _, r := range results {
			switch r := r.(type) {
			case *authres.DKIMResult:
				if r.Value == authres.ResultPass && aligned(r.Domain, fromDomain) {
					return "authres: dkim=pass header.d=" + r.Domain, ""
				}
				why = append(why, fmt.Sprintf("dkim=%s header.d=%s", r.Value, r.Domain))
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
	return "", "no Authentication-Results field of " + trusted
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
