package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-pgpmail"

	"mailbot/mailbot"
	"mailbot/mailbot/devmail"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/pgp"
	"mailbot/store"
)

func init() {
	register(command{"demo", "[--serve] [--dir D]", "run the bot end to end on an embedded IMAP server and SMTP sink", cmdDemo})
}

const (
	demoDomain   = "example.org"
	demoBot      = "security@example.org"
	demoReporter = "ada@research.example"
	demoAnn      = "ann@example.org" // on duty, with an OpenPGP key
	demoBob      = "bob@example.org" // on duty, without a key
	demoPassword = "demo"
)

// cmdDemo runs the whole job in process: an IMAP server and an SMTP server
// on loopback (mailbot/devmail), a configuration written to a folder and
// loaded like any other, the daemon, and sample mail delivered into the
// inbox. It prints what the bot did.
func cmdDemo(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "demo")
	serve := fs.Bool("serve", false, "keep running and print addresses and credentials for a mail client")
	dir := fs.String("dir", "", "folder for the demo's config and store (default: a temporary folder, removed after)")
	verbose := fs.Bool("v", false, "show the daemon's log")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := runDemo(ctx, env, *dir, *serve, *verbose); err != nil {
		return fail(env, "demo", ExitFailure, err)
	}
	return ExitOK
}

func runDemo(ctx context.Context, env *Env, dir string, serve, verbose bool) error {
	out := env.Stdout
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mailbot-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	srv, err := devmail.Start(devmail.Options{Domain: demoDomain, Users: map[string]string{
		demoBot: demoPassword, demoReporter: demoPassword, demoAnn: demoPassword, demoBob: demoPassword,
	}})
	if err != nil {
		return err
	}
	defer srv.Close()

	annKey, err := pgp.Generate("Ann Example", demoAnn, pgp.Ed25519, time.Now())
	if err != nil {
		return err
	}
	cfgPath, err := writeDemoConfig(dir, srv, annKey)
	if err != nil {
		return err
	}
	// The researcher's own key, as her mail client would hold it.
	adaKey, err := pgp.Generate("Ada Lovelace", demoReporter, pgp.Ed25519, time.Now())
	if err != nil {
		return err
	}
	s, err := load(cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(s.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	logw := io.Discard
	if verbose {
		logw = env.Stderr
	}
	events := make(chan inbox.Event, 64)
	clock := newDemoClock(time.Now()) // the reminder step moves it forward
	d, err := mailbot.New(mailbot.Options{Config: s.cfg, Store: st, Policy: s.policy, Templates: s.tmpl, Keys: s.keys, Roster: s.roster,
		Logger: newLogger(logw, "debug"), InboxEvents: events, Now: clock.Now})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx, env.Abort) }()
	defer func() { stop(); <-done }()

	fmt.Fprintf(out, "mailbot demo: IMAP %s, SMTP %s, config %s\n\n", srv.IMAPAddr, srv.SMTPAddr, cfgPath)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	processed := 0
	waitProcessed := func(n int) error {
		for processed < n {
			select {
			case e := <-events:
				if e.Kind == "processed" {
					processed++
				}
			case <-wait.Done():
				return fmt.Errorf("waiting for the bot to process message %d: %w", processed+1, wait.Err())
			}
		}
		return nil
	}

	step := func(what string, raw []byte) error {
		fmt.Fprintf(out, "-> %s\n", what)
		_, err := srv.Deliver("INBOX", demoBot, raw)
		return err
	}
	if err := step("a researcher reports a vulnerability", demoReport()); err != nil {
		return err
	}
	if err := waitProcessed(1); err != nil {
		return err
	}
	// waitMail waits until n mails to addr (whose subject contains tag)
	// were sent.
	waitTagged := func(addr, tag string, n int) ([]devmail.Mail, error) {
		for {
			var to []devmail.Mail
			all := srv.Sent()
			for _, m := range all {
				if len(m.To) == 1 && m.To[0] == addr && strings.Contains(headerOf(m.Data, "Subject"), tag) {
					to = append(to, m)
				}
			}
			if len(to) >= n {
				return to, nil
			}
			if _, err := srv.WaitSent(wait, len(all)+1); err != nil {
				return nil, fmt.Errorf("waiting for mail %d to %s: %w", n, addr, err)
			}
		}
	}
	waitMail := func(addr string, n int) ([]devmail.Mail, error) { return waitTagged(addr, "", n) }
	sent, err := waitMail(demoReporter, 1)
	if err != nil {
		return err
	}
	ackID := messageID(sent[0].Data)
	if err := step("the researcher replies to the acknowledgement", demoFollowUp(ackID)); err != nil {
		return err
	}
	if err := step("an out-of-office reply arrives (RFC 3834)", demoAutoReply(ackID)); err != nil {
		return err
	}
	if err := step("a bounce of our acknowledgement arrives (RFC 3464)", demoBounce(ackID)); err != nil {
		return err
	}
	if err := waitProcessed(4); err != nil {
		return err
	}
	encrypted, err := demoEncryptedReport(s.keys, adaKey)
	if err != nil {
		return err
	}
	if err := step("the researcher sends a second report, PGP/MIME encrypted to the bot's key, her key inside", encrypted); err != nil {
		return err
	}
	if err := waitProcessed(5); err != nil {
		return err
	}
	if _, err := waitMail(demoReporter, 2); err != nil {
		return err
	}
	// Her notification of the first case (the scheduler may also have sent
	// the on-duty pair their daily digest).
	toAnn, err := waitTagged(demoAnn, "[SEC-2026-0001]", 1)
	if err != nil {
		return err
	}
	reply, err := demoTeamReply(messageID(toAnn[0].Data), annKey)
	if err != nil {
		return err
	}
	if err := step("Ann, on duty, answers her (encrypted) notification, signed with her key:\n"+
		"     \"status confirmed\", \"expected <date>\" and a note for the researcher", reply); err != nil {
		return err
	}
	if err := waitProcessed(6); err != nil {
		return err
	}
	if _, err := waitMail(demoReporter, 4); err != nil {
		return err
	}
	if _, err := waitTagged(demoAnn, "[SEC-2026-0001]", 3); err != nil { // report, follow-up, and the confirmation of her commands
		return err
	}
	// The sender marks mail sent just after the server's 250: let the
	// outbox settle before showing the cases (bounded).
	for i := 0; i < 100 && queued(st) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}

	fmt.Fprintln(out, "\n== cases")
	var views []CaseView
	err = st.View(func(tx *store.Tx) error {
		return tx.Cases(func(c *store.Case) bool {
			v, err := caseView(tx, c)
			if err == nil {
				views = append(views, v)
			}
			return err == nil
		})
	})
	if err != nil {
		return err
	}
	for _, v := range views {
		printCase(out, v)
		fmt.Fprintln(out)
	}
	all := srv.Sent()
	toAda, err := waitMail(demoReporter, 4)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "== mail to the researcher (%d: two acknowledgements, Ann's relayed reply, a status notice; robots answered: 0)\n", len(toAda))
	for _, m := range toAda {
		fmt.Fprintf(out, "\n--- to %s\n%s", strings.Join(m.To, ", "), readable(m.Data))
		if plain, ok := decryptForDemo(m.Data, adaKey, s.keys); ok {
			fmt.Fprintf(out, "\n--- the same mail, decrypted with the researcher's key\n%s", plain)
		}
	}
	fmt.Fprintf(out, "\n== mail to the team (%d)\n", len(all)-len(toAda))
	for _, m := range all {
		if m.To[0] == demoReporter {
			continue
		}
		subject := "(encrypted: " + headerOf(m.Data, "Subject") + ")"
		if plain, ok := decryptForDemo(m.Data, annKey, s.keys); ok {
			subject = headerOf([]byte(plain[strings.IndexByte(plain, '\n')+1:]), "Subject") + " (decrypted with Ann's key)"
		} else if !bytes.Contains(m.Data, []byte("multipart/encrypted")) {
			subject = headerOf(m.Data, "Subject")
		}
		fmt.Fprintf(out, "  to %-18s %s\n", m.To[0], subject)
	}
	if len(toAda) != 4 {
		return fmt.Errorf("the bot sent %d mails to the researcher, want 4", len(toAda))
	}
	if err := demoReminder(ctx, out, d, st, s.policy, clock, srv); err != nil {
		return fmt.Errorf("reminder: %w", err)
	}
	if !serve {
		return nil
	}
	fmt.Fprintf(out, "\n== serving until interrupted (Ctrl-C)\n"+
		"IMAP  %s  (no TLS)  user %s or %s, password %q\n"+
		"SMTP  %s  (no TLS)  same accounts; mail to %s is a report\n",
		srv.IMAPAddr, demoBot, demoReporter, demoPassword, srv.SMTPAddr, demoBot)
	select {
	case <-ctx.Done():
	case err := <-done:
		done <- err
		return err
	}
	return nil
}

// writeDemoConfig writes the demo's configuration, policy and secrets into
// dir, the way an admin would.
func writeDemoConfig(dir string, srv *devmail.Server, ann *pgp.Keyring) (string, error) {
	k, err := pgp.Generate("Example Security Team", demoBot, pgp.Ed25519, time.Now())
	if err != nil {
		return "", err
	}
	var kb bytes.Buffer
	if err := k.WritePrivate(&kb, nil); err != nil {
		return "", err
	}
	botKey := kb.Bytes()
	var ab bytes.Buffer
	if err := ann.WritePublic(&ab); err != nil {
		return "", err
	}
	annPub := ab.Bytes()
	host, port, _ := strings.Cut(srv.IMAPAddr, ":")
	_, sport, _ := strings.Cut(srv.SMTPAddr, ":")
	files := map[string]string{
		"mailbot.toml": fmt.Sprintf(`# written by mailbot demo
address = %q
name = "Example Security Team"
store = "mailbot.db"
policy = "policy.toml"

[imap]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "password" }
mode = "fast"
after = "seen"

[smtp]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "password" }

[keys]
private = "bot-key.asc"

[team_mail]
trusted_authserv_id = "mx.example.org"

[[team]]
name = "Ann Example"
address = %q
key = "ann.asc"

[[team]]
name = "Bob Example"
address = %q
`, demoBot, host, port, demoBot, host, sport, demoBot, demoAnn, demoBob),
		"policy.toml": starterPolicy("Example", demoBot, "en", "DE", "", "Europe/Berlin"),
		"bot-key.asc": string(botKey),
		"password":    demoPassword + "\n",
		"ann.asc":     string(annPub),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "mailbot.toml"), nil
}

func demoMail(headers [][2]string, body string) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes()
}

func rfc5322Date() string { return time.Now().Format(time.RFC1123Z) }

func demoReport() []byte {
	return demoMail([][2]string{
		// As the receiving MTA adds it: the acknowledgement may greet Ada
		// by name and repeat her subject.
		{"Authentication-Results", "mx.example.org; dkim=pass header.d=research.example"},
		{"From", "Ada Lovelace <" + demoReporter + ">"},
		{"To", demoBot},
		{"Subject", "Stored XSS in the profile page"},
		{"Date", rfc5322Date()},
		{"Message-ID", "<report-1@research.example>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
	}, "Hello,\n\nthe display name on https://app.example.org/profile is rendered without escaping.\n"+
		"Steps to reproduce: set the name to <script>alert(1)</script> and open the page.\n"+
		"Impact: any visitor's session can be taken over.\n\nAda\n")
}

func demoFollowUp(ackID string) []byte {
	return demoMail([][2]string{
		{"From", "Ada Lovelace <" + demoReporter + ">"},
		{"To", demoBot},
		{"Subject", "Re: Stored XSS in the profile page"},
		{"Date", rfc5322Date()},
		{"Message-ID", "<report-2@research.example>"},
		{"In-Reply-To", "<" + ackID + ">"},
		{"References", "<report-1@research.example> <" + ackID + ">"},
		{"Content-Type", "text/plain; charset=utf-8"},
	}, "I found it on 2026-11-20; it also works in the team page.\n")
}

func demoAutoReply(ackID string) []byte {
	return demoMail([][2]string{
		{"From", "Ada Lovelace <" + demoReporter + ">"},
		{"To", demoBot},
		{"Subject", "Out of office: [SEC] Received: Stored XSS in the profile page"},
		{"Date", rfc5322Date()},
		{"Message-ID", "<ooo-1@research.example>"},
		{"In-Reply-To", "<" + ackID + ">"},
		{"Auto-Submitted", "auto-replied"},
		{"Content-Type", "text/plain; charset=utf-8"},
	}, "I am away until Monday.\n")
}

func demoBounce(ackID string) []byte {
	return demoMail([][2]string{
		{"From", "Mail Delivery System <MAILER-DAEMON@mx.research.example>"},
		{"To", demoBot},
		{"Subject", "Undelivered Mail Returned to Sender"},
		{"Date", rfc5322Date()},
		{"Message-ID", "<bounce-1@mx.research.example>"},
		{"Auto-Submitted", "auto-replied"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/report; report-type=delivery-status; boundary="b"`},
	}, "--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n\n"+
		"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.research.example\n\n"+
		"Final-Recipient: rfc822; ada-old@research.example\nAction: failed\nStatus: 5.1.1\n\n"+
		"--b\nContent-Type: text/rfc822-headers\n\nFrom: "+demoBot+"\nTo: ada-old@research.example\nMessage-ID: <"+ackID+">\nSubject: [SEC] Received\n\n--b--\n")
}

// demoEncryptedReport is a report as a PGP/MIME client makes it: encrypted
// to the bot and signed by the researcher, her public key attached inside,
// the real subject protected (RFC 9788).
func demoEncryptedReport(bot, ada *pgp.Keyring) ([]byte, error) {
	var pub bytes.Buffer
	if err := ada.WritePublic(&pub); err != nil {
		return nil, err
	}
	inner := "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"The password reset token at https://app.example.org/reset is predictable (it is the time in seconds).\r\n" +
		"Steps to reproduce: request two resets one second apart and compare the tokens.\r\n" +
		"Impact: account takeover of any user.\r\n" +
		"--in\r\nContent-Type: application/pgp-keys\r\nContent-Disposition: attachment; filename=ada.asc\r\n\r\n" +
		strings.ReplaceAll(pub.String(), "\n", "\r\n") + "\r\n--in--\r\n"
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Ada Lovelace", Address: demoReporter}})
	h.SetAddressList("To", []*mail.Address{{Address: demoBot}})
	h.SetDate(time.Now())
	h.SetMessageID("report-3@research.example")
	h.SetSubject("...")
	var out bytes.Buffer
	err := pgp.Seal(&out, h, "Predictable password reset tokens", strings.NewReader(inner), bot.Entities(), ada)
	return out.Bytes(), err
}

// decryptForDemo opens an encrypted acknowledgement with the researcher's
// key, as her mail client would, and shows its protected subject and text.
func decryptForDemo(raw []byte, ada, bot *pgp.Keyring) (string, bool) {
	if !bytes.Contains(raw, []byte("multipart/encrypted")) {
		return "", false
	}
	ring := append(append(openpgp.EntityList{}, ada.Entities()...), bot.Entities()...)
	r, err := pgpmail.Read(bytes.NewReader(raw), ring, nil, nil)
	if err != nil {
		return fmt.Sprintf("(cannot decrypt: %v)\n", err), true
	}
	inner, err := io.ReadAll(r.MessageDetails.UnverifiedBody)
	if err != nil {
		return fmt.Sprintf("(cannot decrypt: %v)\n", err), true
	}
	sig := "good signature from the bot's key"
	if r.MessageDetails.SignedBy == nil || r.MessageDetails.SignatureError != nil {
		sig = fmt.Sprintf("signature NOT verified: %v", r.MessageDetails.SignatureError)
	}
	return "(" + sig + ")\n" + readable(inner), true
}

// demoTeamReply is Ann's answer to her notification: two commands, then
// a note for the researcher, signed with her key (PGP/MIME).
func demoTeamReply(inReplyTo string, ann *pgp.Keyring) ([]byte, error) {
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Ann Example", Address: demoAnn}})
	h.SetAddressList("To", []*mail.Address{{Address: demoBot}})
	h.SetSubject("Re: [SEC-2026-0001] New report")
	h.SetDate(time.Now())
	h.SetMessageID("ann-1@example.org")
	h.SetMsgIDList("In-Reply-To", []string{inReplyTo})
	expected := time.Now().AddDate(0, 0, 21).Format(time.DateOnly)
	body := "Content-Type: text/plain; charset=utf-8\r\n\r\nstatus confirmed\r\nexpected " + expected + "\r\n\r\n" +
		"Thank you, Ada: we reproduced the stored XSS and are fixing it.\r\n\r\nAnn\r\n\r\n" +
		"On Monday, the bot wrote:\r\n> A new report opened case SEC-2026-0001.\r\n"
	var b bytes.Buffer
	err := pgp.Sign(&b, h, strings.NewReader(body), ann)
	return b.Bytes(), err
}

// queued counts outbox items not yet sent.
func queued(st *store.Store) (n int) {
	st.View(func(tx *store.Tx) error { n = tx.Queued(); return nil })
	return n
}

func headerOf(raw []byte, key string) string {
	r, _ := mail.CreateReader(bytes.NewReader(raw))
	if r == nil {
		return ""
	}
	if key == "Subject" {
		s, _ := r.Header.Subject()
		return s
	}
	return r.Header.Get(key)
}

// messageID reads the Message-ID of a raw message, without <>.
func messageID(raw []byte) string {
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil && r == nil {
		return ""
	}
	id, _ := r.Header.MessageID()
	return id
}

// readable shows a sent message's header and decoded text body.
func readable(raw []byte) string {
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if r == nil {
		return fmt.Sprintf("(unreadable: %v)\n", err)
	}
	var b strings.Builder
	for _, k := range []string{"From", "To", "Subject", "Message-Id", "In-Reply-To", "Auto-Submitted", "Content-Type"} {
		if v := r.Header.Get(k); v != "" {
			if k == "Subject" {
				v, _ = r.Header.Subject()
			}
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) || err != nil {
			break
		}
		body, _ := io.ReadAll(io.LimitReader(p.Body, 64<<10))
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
		if i := bytes.Index(body, []byte("-----BEGIN PGP MESSAGE-----")); i >= 0 {
			n := bytes.Count(body[i:], []byte("\n"))
			body = fmt.Appendf(body[:i:i], "-----BEGIN PGP MESSAGE-----\n(%d lines of ciphertext)\n-----END PGP MESSAGE-----\n", n)
		}
		b.Write(body)
	}
	return b.String()
}
