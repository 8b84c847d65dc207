//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// opendkimMilter is one OpenDKIM milter (Debian's opendkim) on a loopback
// port.
type opendkimMilter struct {
	dir, addr string
	p         *proc
}

// dkimKey generates a DKIM key with opendkim-genkey and returns the private
// key's path and the TXT record to publish at <selector>._domainkey.<domain>.
func dkimKey(t *testing.T, dir, domain, selector string) (keyPath, record string) {
	t.Helper()
	if out, err := exec.Command("opendkim-genkey", "-b", "2048", "-D", dir, "-d", domain, "-s", selector).CombinedOutput(); err != nil {
		t.Fatalf("opendkim-genkey = %v: %s", err, out)
	}
	zone, err := os.ReadFile(filepath.Join(dir, selector+".txt"))
	if err != nil {
		t.Fatalf("opendkim-genkey wrote no record: %v", err)
	}
	// `sel._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=..." )`
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(string(zone), -1) {
		record += m[1]
	}
	if !strings.Contains(record, "p=") {
		t.Fatalf("no key in the record %q", zone)
	}
	return filepath.Join(dir, selector+".private"), record
}

// startOpenDKIM runs `opendkim -f` with the settings in conf (Mode and
// what it needs) on a loopback port.
func startOpenDKIM(t *testing.T, dir, conf string) *opendkimMilter {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	m := &opendkimMilter{dir: dir}
	port := freePorts(t, 1)[0]
	m.addr = "127.0.0.1:" + port
	write(t, filepath.Join(dir, "opendkim.conf"), fmt.Sprintf(`# written by the e2e suite
Socket inet:%s@127.0.0.1
PidFile %s/opendkim.pid
Syslog no
LogWhy yes
`, port, dir)+conf, 0o644)
	logf, err := os.OpenFile(filepath.Join(dir, "opendkim.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("opendkim log: %v", err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command("opendkim", "-f", "-x", filepath.Join(dir, "opendkim.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc("opendkim", cmd)
	if err != nil {
		t.Fatalf("start opendkim: %v (run make e2e (it installs opendkim))", err)
	}
	m.p = p
	t.Cleanup(func() {
		if err := m.p.stop(syscall.SIGTERM, serverWait); err != nil {
			t.Errorf("opendkim: %v", err)
		}
	})
	if err := waitPort(m.addr, true, serverWait); err != nil {
		t.Fatalf("opendkim: %v\n%s", err, tail(filepath.Join(dir, "opendkim.log"), 30))
	}
	return m
}

// serveDNS answers TXT queries for records (fully qualified names) on a
// loopback UDP port until the test ends; other names do not exist.
func serveDNS(t *testing.T, records map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket() = %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	answer := func(query []byte) ([]byte, error) {
		var p dnsmessage.Parser
		h, err := p.Start(query)
		if err != nil {
			return nil, err
		}
		q, err := p.Question()
		if err != nil {
			return nil, err
		}
		txt, ok := records[strings.ToLower(q.Name.String())]
		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
		if !ok {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		b.EnableCompression()
		if err := b.StartQuestions(); err != nil {
			return nil, err
		}
		if err := b.Question(q); err != nil {
			return nil, err
		}
		if ok && q.Type == dnsmessage.TypeTXT {
			var chunks []string // RFC 1035 section 3.3.14: at most 255 bytes each
			for len(txt) > 255 {
				chunks, txt = append(chunks, txt[:255]), txt[255:]
			}
			chunks = append(chunks, txt)
			if err := b.StartAnswers(); err != nil {
				return nil, err
			}
			if err := b.TXTResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.TXTResource{TXT: chunks}); err != nil {
				return nil, err
			}
		}
		return b.Finish()
	}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				fmt.Fprintf(os.Stderr, "e2e: dns server: panic: %v\n", v)
			}
		}()
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed at the end of the test
			}
			if msg, err := answer(buf[:n]); err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// useDKIMPath adds two smtpd services to Postfix and restarts it: mail
// submitted to submit is signed by the signer milter and handed on over
// SMTP to receive, as the sending MTA would; receive is the receiving MTA,
// whose verifier milter writes Authentication-Results before delivery. A
// milter that fails makes Postfix answer 4xx, never pass mail unchecked.
func (pf *postfix) useDKIMPath(t *testing.T, signer, verifier string) (submit, receive string) {
	t.Helper()
	pf.stop(t)
	ports := freePorts(t, 2)
	submit, receive = "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	// The receiving smtpd greets with another name: the same name would
	// make Postfix's SMTP client refuse it as a mail loop.
	pf.appendConf(t, "master.cf", fmt.Sprintf(`%s inet n - n - - smtpd
  -o smtpd_milters=inet:%s
  -o milter_default_action=tempfail
  -o content_filter=smtp:[127.0.0.1]:%s
%s inet n - n - - smtpd
  -o smtpd_milters=inet:%s
  -o milter_default_action=tempfail
  -o content_filter=
  -o { smtpd_banner = receiver.example.org ESMTP }
`, submit, signer, ports[1], receive, verifier))
	pf.start(t)
	for _, addr := range []string{submit, receive} {
		if err := waitGreeting(addr, greetWait); err != nil {
			t.Fatalf("postfix: %v\n%s", err, tail(filepath.Join(pf.dir, "postfix.log"), 30))
		}
	}
	return submit, receive
}

// TestE2EOpenDKIMTeamCommand is issue 18's real-MTA command test: Ann's
// command signed by an OpenDKIM milter on the sending smtpd and verified by
// a second OpenDKIM milter on the receiving one, which writes `dkim=pass
// (2048-bit key; unprotected)` (the comment go-msgauth v0.7.0 cannot read),
// is applied; the same command without a signature but with a forged
// Authentication-Results of the trusted server is refused.
func TestE2EOpenDKIMTeamCommand(t *testing.T) {
	for _, tool := range []string{"opendkim", "opendkim-genkey"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("missing %s: run make e2e (it installs opendkim and opendkim-tools)", tool)
		}
	}
	const authservID = "mx.example.org"
	// teamConfig without Ann's OpenPGP key; [team_mail] is its last section.
	team := strings.Replace(teamConfig, "key = \"ann.asc\"\n", "", 1)
	if team == teamConfig {
		t.Fatalf("teamConfig has no key line for Ann:\n%s", teamConfig)
	}
	e := newEnv(t, botOptions{mode: "idle", extra: team + "trusted_authserv_id = \"" + authservID + "\"\n"})
	keyDir := filepath.Join(e.dir, "dkim")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	key, record := dkimKey(t, keyDir, "example.org", "e2e")
	signer := startOpenDKIM(t, filepath.Join(e.dir, "opendkim-sign"), fmt.Sprintf(`Mode s
Domain example.org
Selector e2e
KeyFile %s
SignatureAlgorithm rsa-sha256
Canonicalization relaxed/relaxed
RequireSafeKeys false
`, key)) // the scratch folder is under /tmp, which OpenDKIM calls unsafe
	// The receiving side asks a DNS server for the key, as in real life
	// (its libunbound forwards to ours); it writes the key's DNSSEC state
	// into its comment: `(2048-bit key; unprotected)`.
	dnsAddr := serveDNS(t, map[string]string{"e2e._domainkey.example.org.": record})
	verifyDir := filepath.Join(e.dir, "opendkim-verify")
	if err := os.MkdirAll(verifyDir, 0o755); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	host, port, _ := net.SplitHostPort(dnsAddr)
	write(t, filepath.Join(verifyDir, "unbound.conf"), fmt.Sprintf("server:\n\tdo-not-query-localhost: no\nforward-zone:\n\tname: \".\"\n\tforward-addr: %s@%s\n", host, port), 0o644)
	write(t, filepath.Join(verifyDir, "internal"), "192.0.2.1\n", 0o644) // nobody: every client is verified
	verifier := startOpenDKIM(t, verifyDir, fmt.Sprintf(`Mode v
AuthservID %s
AlwaysAddARHeader yes
InternalHosts file:%[2]s/internal
ResolverConfiguration %[2]s/unbound.conf
`, authservID, verifyDir))
	submit, receive := e.pf.useDKIMPath(t, signer.addr, verifier.addr)
	e.bot.startReady(t)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	ann := dialIMAP(t, e.dc.imapAddr, annAddr, annPass)
	inbox := dialIMAP(t, e.dc.imapAddr, botAddr, botPass)

	id := "dkim-" + e.nonce + "@research.example"
	if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, report(id, "SQL injection in /search", "The q parameter goes into the query.")); err != nil {
		t.Fatalf("sendSMTP(report) = %v", err)
	}
	ref := ""
	for _, a := range waitAcks(t, ada, []string{id}, 60*time.Second, false) {
		if m := caseRefRE.FindStringSubmatch(a.Subject); m != nil && a.InReplyTo == id {
			ref = m[1]
		}
	}
	note := ""
	waitUntil(t, "Ann's notification", 60*time.Second, func() (bool, error) {
		msgs, err := ann.list("INBOX", false)
		for _, m := range msgs {
			if r := caseRefRE.FindStringSubmatch(m.header("Subject")); r != nil && r[1] == ref {
				note = strings.Trim(m.header("Message-ID"), "<>")
			}
		}
		return note != "", err
	})
	command := func(msgID, body string) []byte { return teamMail(msgID, "Re: ["+ref+"]", note, body) }

	// The forgery: no signature, a pass of the trusted server written by
	// the sender. The milter adds its own field on top.
	forgedID := "forged-" + e.nonce + "@example.org"
	forged := append([]byte("Authentication-Results: "+authservID+";\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.org header.i=@example.org header.b=\"AbCdEfGh\"\r\n"),
		command(forgedID, "status rejected\n")...)
	mark := e.bot.log.mark()
	if err := sendSMTP(receive, annAddr, []string{botAddr}, forged); err != nil {
		t.Fatalf("sendSMTP(forged) = %v", err)
	}
	if class := e.bot.processedAfter(t, mark, 1, "class"); class != "team-refused" {
		t.Errorf("forged Authentication-Results: class = %q, want team-refused\n%s", class, e.bot.log.tail(20))
	}

	genuineID := "genuine-" + e.nonce + "@example.org"
	mark = e.bot.log.mark()
	if err := sendSMTP(submit, annAddr, []string{botAddr}, command(genuineID, "status triaged\n\nWe can reproduce it.\n")); err != nil {
		t.Fatalf("sendSMTP(signed) = %v", err)
	}
	if class := e.bot.processedAfter(t, mark, 1, "class"); class != "team" {
		t.Errorf("OpenDKIM-verified command: class = %q, want team\n%s", class, e.bot.log.tail(20))
	}

	// What the milter wrote, as the bot read it.
	results := map[string]string{}
	msgs, err := inbox.list("INBOX", false)
	if err != nil {
		t.Fatalf("list the bot's mailbox: %v", err)
	}
	for _, m := range msgs {
		if id := strings.Trim(m.header("Message-ID"), "<>"); id == forgedID || id == genuineID {
			results[id] = strings.Join(strings.Fields(m.header("Authentication-Results")), " ")
		}
	}
	if !strings.Contains(results[genuineID], "dkim=pass (2048-bit key; ") || !strings.Contains(results[forgedID], "dkim=none") {
		t.Errorf("topmost Authentication-Results: genuine %q, forged %q; want OpenDKIM's pass with a comment and none", results[genuineID], results[forgedID])
	}

	e.bot.stop(t)
	status := ""
	for _, c := range e.bot.cases(t) {
		if c.Ref == ref {
			status = c.Status
		}
	}
	if status != "triaged" {
		t.Errorf("case %s status = %q, want triaged (the OpenDKIM-verified command, not the forged one)", ref, status)
	}
	authres := false // the bot cannot look the key up itself: the milter's word counts
	for _, ev := range e.bot.caseJSON(t, ref).Events {
		authres = authres || ev.Kind == "team.mail" && strings.Contains(ev.Detail, "(authres)")
	}
	if !authres {
		t.Errorf("case %s: no team.mail event naming authres: %+v", ref, e.bot.caseJSON(t, ref).Events)
	}
	if t.Failed() {
		return
	}
	say("opendkim: command verified by the OpenDKIM milter applied on %s (%s); forged pass below it refused", ref, results[genuineID])
}
