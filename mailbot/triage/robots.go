package triage

// General rules for robots that carry none of the standard markers
// (issue 18): sender local parts that are conventions for machines, feedback
// loops that attach the original, challenge-response systems, VERP return
// paths and localised subjects of auto-replies and delivery failures.
//
// Each rule is about a convention, never about one sample; each has a
// counterpart in the tests that a person's mail does not match.

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"mailbot/mailbot/parse"
)

// Roles of sender local parts that are conventions for machines.
const (
	roleNone         = ""
	roleMailerDaemon = "mailer-daemon"
	rolePostmaster   = "postmaster"
	roleNoReply      = "no-reply"
	roleBounce       = "bounce"
	roleFeedbackLoop = "feedback-loop"
)

// roleLocalParts maps a normalised local part (lowercase, without a
// "+detail" subaddress and without '-', '_' and '.') to its role. Only the
// whole local part counts: "noreply-tester" is somebody's name, "noreply"
// is not.
var roleLocalParts = map[string]string{
	// RFC 5321 section 4.5.1: every domain has "postmaster"; RFC 2142
	// section 5 names it for SMTP. Spelled post_master, post.master too.
	"postmaster": rolePostmaster,
	// MAILER-DAEMON: the name sendmail and most MTAs give the null
	// reverse-path (RFC 5321 section 4.5.5) in the From of a DSN.
	"mailerdaemon": roleMailerDaemon,
	// No-reply senders: the convention of notification services for an
	// address whose mail nobody reads; an answer there is backscatter.
	"noreply":    roleNoReply,
	"donotreply": roleNoReply,
	"dontreply":  roleNoReply,
	"noresponse": roleNoReply,
	// Bounce handlers of mailing software (Mailman, Sympa, ESPs): the
	// address a DSN goes to, and the sender of their own notices.
	"bounce":  roleBounce,
	"bounces": roleBounce,
	// Feedback-loop senders (RFC 6449 complaint feedback loops, as
	// providers name the mailbox: AOL "scomp", Return Path "fbl",
	// "feedbackloop"); counted only with the original attached.
	"fbl":          roleFeedbackLoop,
	"feedbackloop": roleFeedbackLoop,
	"scomp":        roleFeedbackLoop,
	"complaints":   roleFeedbackLoop,
	"jmrp":         roleFeedbackLoop,
}

// localRole returns the role of addr's local part, roleNone for a person.
func localRole(addr string) string {
	lp := strings.ToLower(localPart(addr))
	// RFC 5233: "local+detail" is the mailbox "local".
	if i := strings.IndexByte(lp, '+'); i > 0 {
		lp = lp[:i]
	}
	full := strings.Trim(lp, `"`)
	lp = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, full)
	if r := roleLocalParts[lp]; r != roleNone {
		return r
	}
	// "<service>-noreply@" (Google's "newsalerts-noreply@"): a no-reply
	// suffix after a separator. Only the suffix: "noreply-tester" may be
	// somebody's name.
	for _, suf := range []string{"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply"} {
		for _, sep := range []string{"-", "_", "."} {
			if strings.HasSuffix(full, sep+suf) {
				return roleNoReply
			}
		}
	}
	return roleNone
}

// senderRole returns the first machine role among From and Sender.
func senderRole(m *parse.Message, roles ...string) string {
	for _, a := range senders(m) {
		r := localRole(a.Address)
		for _, want := range roles {
			if r == want {
				return r
			}
		}
	}
	return roleNone
}

// returnPaths returns the addresses of the Return-Path fields, without <>.
func returnPaths(m *parse.Message) []string {
	var out []string
	for _, v := range m.Header.Values("Return-Path") {
		v = strings.TrimSpace(v)
		if i := strings.IndexByte(v, '<'); i >= 0 {
			v = v[i+1:]
			if j := strings.IndexByte(v, '>'); j >= 0 {
				v = v[:j]
			}
		}
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// returnPathRobot: the envelope sender that the final MTA wrote into
// Return-Path (RFC 5321 section 4.4) is a bounce convention or encodes
// the bot's own address.
func returnPathRobot(m *parse.Message, self Self) (Verdict, bool) {
	for _, rp := range returnPaths(m) {
		// sendmail and others write the null reverse-path of a DSN as
		// <MAILER-DAEMON> (RFC 5321 section 4.5.5).
		if localRole(rp) == roleMailerDaemon {
			return Verdict{ClassBounce, "Return-Path: MAILER-DAEMON"}, true
		}
		if verpFor(rp, self) {
			return Verdict{ClassAutomated, "Return-Path: VERP for our address"}, true
		}
	}
	return Verdict{}, false
}

// verpFor reports whether the local part of return path rp encodes one of
// the bot's addresses, as bulk senders do to tell which recipient bounced:
// VERP writes the recipient local@domain as "local=domain" (D. J.
// Bernstein, "Variable envelope return paths", cr.yp.to/proto/verp.txt);
// majordomo and Mailman write '@' as "=40" (quoted-printable style) or
// "%40"; ESPs put it after a "+" tag ("bounces+id-local=domain@"). A
// person's envelope sender never carries the address of the mailbox it
// writes to.
func verpFor(rp string, self Self) bool {
	lp := strings.ToLower(localPart(rp))
	if !strings.Contains(rp, "@") || lp == "" {
		return false
	}
	for _, a := range self.Addresses {
		a = strings.ToLower(strings.TrimSpace(a))
		i := strings.LastIndexByte(a, '@')
		if i <= 0 || i == len(a)-1 {
			continue
		}
		local, domain := a[:i], a[i+1:]
		for _, enc := range []string{local + "=" + domain, local + "=40" + domain, local + "%40" + domain} {
			if containsField(lp, enc) {
				return true
			}
		}
	}
	return false
}

// containsField reports whether enc occurs in lp as a field of its own:
// at the start or after a separator ('-', '+', '.', '_', '='), and at the
// end or before one ('.' excepted: "example.org.uk" is another domain), so
// "security=example.org" is not found in "nosecurity=example.orgx".
func containsField(lp, enc string) bool {
	for i := 0; ; {
		j := strings.Index(lp[i:], enc)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(enc)
		before := start == 0 || strings.IndexByte("-+._=", lp[start-1]) >= 0
		after := end == len(lp) || strings.IndexByte("-+_=", lp[end]) >= 0
		if before && after {
			return true
		}
		i = start + 1
	}
}

// feedbackLoop recognises complaint reports that are not RFC 5965 ARF:
// Microsoft's JMRP marks the report with X-HmXmrOriginalRecipient, AOL's
// SCOMP with "X-Loop: scomp"; others send multipart/mixed with the
// complained-about message attached (message/rfc822 or text/rfc822-headers,
// RFC 6522 section 4 and RFC 5965 section 2 name both) from a feedback-loop
// mailbox, or under a subject a provider gives its reports.
func feedbackLoop(m *parse.Message) (Verdict, bool) {
	h := &m.Header
	if h.Has("X-HmXmrOriginalRecipient") {
		return Verdict{ClassAutomated, "X-HmXmrOriginalRecipient (Microsoft JMRP feedback loop)"}, true
	}
	if keyword(h.Get("X-Loop")) == "scomp" {
		return Verdict{ClassAutomated, "X-Loop: scomp (AOL feedback loop)"}, true
	}
	if !attachesOriginal(m) {
		return Verdict{}, false
	}
	if senderRole(m, roleFeedbackLoop) != roleNone {
		return Verdict{ClassAutomated, "feedback loop: original attached, sender a feedback-loop mailbox"}, true
	}
	if p, ok := subjectPrefix(m.Subject, feedbackSubjects); ok {
		return Verdict{ClassAutomated, fmt.Sprintf("feedback loop: original attached, subject %q", p)}, true
	}
	return Verdict{}, false
}

// feedbackSubjects are subjects providers give their complaint reports:
// Microsoft JMRP ("complaint about message from <ip>"), AOL ("Email
// Feedback Report for IP <ip>"), and the generic name of the service.
var feedbackSubjects = []string{
	"complaint about message from ", "email feedback report for ip ", "feedback loop report",
	"feedback loop", "spam complaint",
}

func attachesOriginal(m *parse.Message) bool {
	for _, a := range m.Attachments {
		switch a.ContentType {
		case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers":
			return true
		}
	}
	return false
}

// challenge recognises challenge-response systems, which answer mail from
// an unknown sender with a request to confirm it. TMDA marks every message
// it writes with X-Delivery-Agent and a Message-ID ending in ".TMDA@host",
// a TMDA user's own mail too (real list mail carries both), so neither is
// a sign; its confirmation requests alone come from, or ask for a reply
// to, a "-confirm-<cookie>" address (TMDA's CONFIRM_ADDRESS tag).
func challenge(m *parse.Message) (Verdict, bool) {
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(m.Header.Get("X-Delivery-Agent"))), "TMDA") {
		for _, a := range append(senders(m), m.ReplyTo...) {
			if strings.Contains(strings.ToLower(localPart(a.Address)), "-confirm-") {
				return Verdict{ClassAutomated, "challenge-response (TMDA confirmation request)"}, true
			}
		}
	}
	if p, ok := subjectPrefix(m.Subject, challengeSubjects); ok {
		return Verdict{ClassAutomated, fmt.Sprintf("challenge-response subject %q", p)}, true
	}
	return Verdict{}, false
}

// challengeSubjects open the subjects of challenge-response requests
// (TMDA, SpamArrest, Boxbe, Mailbox and similar): a request to prove that
// the sender is a person, at the start of the subject only.
var challengeSubjects = []string{
	"please confirm you are human", "please confirm that you are human", "please confirm your message",
	"please confirm your e-mail", "please confirm your email", "sender verification required",
	"verification required to deliver your message", "spam arrest sender verification",
	"boxbe: please confirm", "request to confirm your message",
}

// Localised subjects. Exchange and Outlook put a fixed prefix and a colon
// before the original subject of an automatic reply ("Automatic reply:")
// and of a non-delivery report ("Undeliverable:"), in the language of the
// mailbox. Listed for the 24 official languages of the EU and for
// Japanese, Chinese and Korean as the localised Outlook and Exchange write
// them. Sources: the English, French, Italian and Swedish NDR forms as
// sisimai's lhost/via-exchange2007 matches them (BSD-2-Clause, from real
// bounces); the others transcribed from the localised products and not
// checked against a published Microsoft list: a missing or wrong one only
// leaves that robot to the rate cap. A prefix counts only when a separator
// follows it: "Automatic reply feature leaks..." is a person's sentence.
var (
	localAutoSubjects = []string{
		"automatic reply", "automatische antwort", "réponse automatique", "respuesta automática",
		"risposta automatica", "automatisch antwoord", "resposta automática", "odpowiedź automatyczna",
		"automatická odpověď", "automatická odpoveď", "samodejni odgovor", "automatski odgovor",
		"automatikus válasz", "răspuns automat", "автоматичен отговор", "αυτόματη απάντηση",
		"automātiskā atbilde", "automatinis atsakymas", "automaatvastus", "automaattinen vastaus",
		"automatiskt svar", "automatisk svar", "freagra uathoibríoch", "tweġiba awtomatika",
		"自動応答", "自動返信", "自动答复", "自动回复", "自動回覆", "자동 회신", "자동 응답",
	}
	localBounceSubjects = []string{
		"undeliverable", "unzustellbar", "non remis", "non_remis_", "no se puede entregar", "non recapitabile",
		"onbestelbaar", "não é possível entregar", "não entregue", "niedostarczalne", "nedoručitelné",
		"nedoručiteľné", "nedostavljivo", "neisporučivo", "kézbesíthetetlen", "nelivrabil",
		"недоставено", "недоставимо", "δεν είναι δυνατή η παράδοση", "nepiegādājams", "nepristatomas",
		"kättetoimetamatu", "ei voitu toimittaa", "olevererbart", "ej levererbart", "kan ikke leveres",
		"配信不能", "无法投递", "無法傳遞", "배달되지 않음",
	}
)

// subjectPrefix reports which of prefixes opens subject, case-insensitively,
// followed by the end of the subject or a separator (a prefix may end in
// its own: "auto:", "complaint about message from ") (':' or a full-width
// '：', '(', '-', '[', ','; a space before it is allowed, as French writes
// "Réponse automatique :").
func subjectPrefix(subject string, prefixes []string) (string, bool) {
	s := strings.ToLower(strings.TrimSpace(subject))
	for _, p := range prefixes {
		if !strings.HasPrefix(s, p) {
			continue
		}
		if strings.HasSuffix(p, ":") || strings.HasSuffix(p, " ") {
			// The prefix carries its own separator.
			return strings.TrimSpace(p), true
		}
		rest := strings.TrimLeft(s[len(p):], " \t")
		if rest == "" {
			return p, true
		}
		r, _ := utf8.DecodeRuneInString(rest)
		switch r {
		case ':', '：', '(', '（', '-', '[', '【', ',':
			return p, true
		}

	}
	return "", false
}
