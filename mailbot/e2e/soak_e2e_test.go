//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-pgpmail"

	"mailbot/mailbot/pgp"
	"mailbot/mailbot/soak"
	"mailbot/store"
)

// The soak's mail routing (issue 19): Postfix rewrites every recipient but
// the bots' own addresses to sinkUser+LOCAL=DOMAIN@example.org, so that one
// mailbox sees everything the bots send and the detail keeps the original
// recipient (Dovecot's LMTP writes it into Delivered-To).
const (
	sinkUser = "sink"
	sinkPass = "sink-secret"
)

// soakScale is the simulated seconds per wall second of each mode: a
// week in about five minutes, a month in about 45.
var soakScale = map[string]float64{"short": 2000, "month": 960}

// TestSoak is issue 19's accelerated soak: the plan of soak.Generate (a
// seeded workload over the five seed policies, with faults) is played
// against five `mailbot run` processes on one real Dovecot and Postfix,
// all on one scaled clock (MAILBOT_CLOCK); what the bots sent, their
// /healthz and their stores are handed to soak.Check, whose every
// violation fails the test. SOAK=short (default: a simulated week) or
// month; SOAK_SEED (default 1).
func TestSoak(t *testing.T) {
	mode := os.Getenv("SOAK")
	if mode == "" {
		mode = "short"
	}
	scale, ok := soakScale[mode]
	if !ok {
		t.Fatalf("SOAK=%q: want short or month", mode)
	}
	seed := int64(1)
	if s := os.Getenv("SOAK_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED=%q: %v", s, err)
		}
		seed = n
	}
	if dir := os.Getenv("SOAK_RECHECK"); dir != "" {
		recheck(t, dir)
		return
	}
	plan := soakPlan(mode, seed)
	counts := map[string]int{}
	for _, a := range plan.Actions {
		counts[string(a.Kind)]++
	}
	say("soak: mode %s, seed %d (SOAK_SEED=%d repeats it), %d instances, %d actions %v, %d faults, simulated %s from %s at scale %g",
		mode, seed, seed, len(plan.Instances), len(plan.Actions), counts, len(plan.Faults), plan.Span, plan.Start.Format(time.RFC3339), scale)

	r := newSoakRun(t, plan, scale)
	wallStart := time.Now()
	r.play()
	r.finish()
	r.obs.Wall = time.Since(wallStart)
	say("soak: wall time %s; %d mails sent to the bots, %d mails from the bots, %d health samples, %d stored messages, %d faults carried out",
		r.obs.Wall.Round(time.Second), len(r.obs.Sent), len(r.obs.Mail), len(r.obs.Health), len(r.obs.Stored), len(r.obs.Faults))
	r.check()
}

// recheck runs the oracle again on a kept run's soak-plan.json and
// soak-observed.json (SOAK_RECHECK=folder): no servers, no bots.
func recheck(t *testing.T, dir string) {
	r := &soakRun{t: t, e: &env{dir: dir}}
	for name, v := range map[string]any{"soak-plan.json": &r.plan, "soak-observed.json": &r.obs} {
		j, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("SOAK_RECHECK: %v", err)
		}
		if err := json.Unmarshal(j, v); err != nil {
			t.Fatalf("SOAK_RECHECK: %s: %v", name, err)
		}
	}
	r.check()
}

// The soak bots' [limits] min_free_bytes on their 64 MB tmpfs, and what a
// disk-full fault leaves free: below it, so the bot holds new reports and
// turns /healthz red by its own check, as it would for an admin.
const (
	soakMinFree      = 6 << 20
	soakFreeWhenFull = 2 << 20
)

// setMinFree sets [limits] min_free_bytes in the bot's configuration (the
// harness writes 0 for the tests of ENOSPC itself).
func setMinFree(t *testing.T, config string, n int64) {
	t.Helper()
	text, err := os.ReadFile(config)
	if err != nil {
		t.Fatalf("bot config: %v", err)
	}
	out := strings.Replace(string(text), "\nmin_free_bytes = 0\n", fmt.Sprintf("\nmin_free_bytes = %d\n", n), 1)
	if out == string(text) {
		t.Fatalf("bot config %s: no min_free_bytes = 0 to replace", config)
	}
	write(t, config, out, 0o600)
}

// soakInstance is one bot of the soak with what the driver knows of it.
type soakInstance struct {
	soak.Instance
	bot      *bot
	user     string // its Dovecot user: its INBOX is the bot's security@ mailbox
	pass     string // the password Dovecot has now
	health   string // /healthz URL
	storeDir string // a tmpfs of its own (disk-full faults)
	key      openpgp.EntityList

	mu  sync.Mutex // one APPEND at a time on conn
	imp *imapConn
}

// soakRun is one run of the soak: the servers, the bots, the people's keys
// and what was observed.
type soakRun struct {
	t     *testing.T
	e     *env
	plan  soak.Plan
	clock soak.Clock
	inst  map[string]*soakInstance
	order []*soakInstance
	keys  map[string]*openpgp.Entity // every person's private key by address
	ring  openpgp.EntityList         // the same, to decrypt the bots' mail

	mu      sync.Mutex
	cond    *sync.Cond // signalled when mail is observed
	obs     soak.Observed
	tags    map[string]string // report (or spam) action ID -> its case tag
	acks    map[string]string // report action ID -> Message-ID of the bot's acknowledgement
	notes   map[string]string // case tag + " " + recipient -> Message-ID of the bot's newest mail to them
	actions map[string]soak.Action

	stop       chan struct{} // closed to end the sink's watch
	stopHealth chan struct{} // closed to end the /healthz polls
	abort      chan struct{} // closed when the test ends early: actions give up
	stopOnce   [3]sync.Once
	watched    sync.WaitGroup
	pending    sync.WaitGroup // actions waiting for the bot's answer to what they reply to
	// lastOn is closed when the latest action on a report (so far in the
	// plan) is delivered or skipped: the next one waits for it, so that
	// actions that waited for the same mail of the bot go in plan order
	// (a status before the not-spam that releases the case, otherwise).
	// Only play touches the map.
	lastOn  map[string]chan struct{}
	skipped []string
}

// soakRef is what a mail about a report replies to: the report's case tag
// and the Message-ID of the bot's mail it answers.
type soakRef struct{ tag, msgID string }

// soakIDRE finds the action ID in the Subject of a report or spam (the
// bot's notifications repeat it) or in a Message-ID the driver gave.
var soakIDRE = regexp.MustCompile(`Soak (?:report|spam) ([A-Za-z0-9_-]+):|<([A-Za-z0-9._-]+)@soak\.test>`)

var soakTagRE = regexp.MustCompile(`\[([A-Z]+-\d{4}-\d+)\]`)

// soakPlan is soak.Generate's plan for the mode and seed.
func soakPlan(mode string, seed int64) soak.Plan {
	if mode == "month" {
		return soak.Generate(soak.MonthOptions(seed))
	}
	return soak.Generate(soak.ShortOptions(seed))
}

// newSoakRun starts Dovecot and Postfix (newEnv) routed for the soak and
// configures one bot per instance; the bots start in play.
func newSoakRun(t *testing.T, plan soak.Plan, scale float64) *soakRun {
	t.Helper()
	r := &soakRun{t: t, plan: plan, inst: map[string]*soakInstance{}, keys: map[string]*openpgp.Entity{},
		tags: map[string]string{}, acks: map[string]string{}, notes: map[string]string{}, actions: map[string]soak.Action{},
		stop: make(chan struct{}), stopHealth: make(chan struct{}), abort: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	for _, a := range plan.Actions {
		r.actions[a.ID] = a
	}
	// Valid now (mailbot check) and at the simulated time.
	keyTime := time.Now().Add(-24 * time.Hour)
	if plan.Start.Before(keyTime) {
		keyTime = plan.Start.Add(-24 * time.Hour)
	}
	person := func(addr string) *openpgp.Entity {
		if e := r.keys[addr]; e != nil {
			return e
		}
		k, err := pgp.Generate(addr, addr, pgp.Ed25519, keyTime)
		if err != nil {
			t.Fatalf("pgp.Generate(%s) = %v", addr, err)
		}
		e := k.Entities()[0]
		r.keys[addr] = e
		r.ring = append(r.ring, e)
		return e
	}
	for _, a := range plan.Actions {
		if a.Kind == soak.ActReport || a.Kind == soak.ActFollowUp {
			person(a.From)
		}
	}

	// The first instance is newEnv's bot; the servers then get the
	// routing and restart once.
	var opts []botOptions
	for i, in := range plan.Instances {
		user := "bot-" + in.Name
		var files = map[string]string{}
		var team strings.Builder
		var names []string
		for _, m := range in.Team {
			pub, err := pgp.Armor(openpgp.EntityList{person(m.Address)})
			if err != nil {
				t.Fatalf("pgp.Armor() = %v", err)
			}
			file := strings.ToLower(strings.ReplaceAll(m.Name, " ", "-")) + ".asc"
			files[file] = string(pub)
			fmt.Fprintf(&team, "\n[[team]]\nname = %q\naddress = %q\nkey = %q\n", m.Name, m.Address, file)
			names = append(names, strconv.Quote(m.Name))
		}
		var overrides []string
		for _, s := range in.DutySwaps {
			overrides = append(overrides, fmt.Sprintf("{ from = %q, to = %q, swap = [%q, %q] }", s.From, s.To, s.Pair[0], s.Pair[1]))
		}
		fmt.Fprintf(&team, `
[duty]
mode = %q
start = %q
order = [%s]
overrides = [%s]

[team_mail]
lead = %q

[spam]
trust = ["spamassassin"]

[health]
# A probe's round trip through Postfix takes a wall second or so; no fault
# loses one, so give it 10 wall seconds (README: size it for the scale).
selftest_timeout = "%ds"
`, in.DutyMode, in.DutyStart, strings.Join(names, ", "), strings.Join(overrides, ", "), in.Lead, int(10*scale))
		opts = append(opts, botOptions{mode: "idle", store: "store/mailbot.db", extra: team.String(), files: files,
			address: in.Address, user: user, policy: filepath.Join(corpusRoot, "policies", in.Policy),
			metrics: "127.0.0.1:" + freePorts(t, 1)[0]})
		r.order = append(r.order, &soakInstance{Instance: in, user: user, pass: botPass, health: "http://" + opts[i].metrics + "/healthz"})
	}
	if len(opts) == 0 {
		t.Fatalf("plan without instances")
	}
	r.e = newEnv(t, opts[0])
	// Runs before newEnv's cleanups: on an early end the driver's
	// goroutines stop before the servers and bots go.
	t.Cleanup(func() {
		r.stopOnce[2].Do(func() { close(r.abort) })
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
		r.pending.Wait()
		r.stopOnce[0].Do(func() { close(r.stopHealth) })
		r.stopOnce[1].Do(func() { close(r.stop) })
		r.watched.Wait()
	})
	r.route()
	r.clock = soak.Clock{Start: plan.Start, Epoch: time.Now().Add(5 * time.Second), Scale: scale}
	clockEnv := fmt.Sprintf("MAILBOT_CLOCK=start=%s,epoch=%s,scale=%g",
		r.clock.Start.Format(time.RFC3339Nano), r.clock.Epoch.Format(time.RFC3339Nano), scale)
	r.obs.Clock = r.clock
	for i, si := range r.order {
		if i == 0 {
			si.bot = r.e.bot
		} else {
			si.bot = newBot(t, filepath.Join(r.e.dir, "bot-"+si.Name), r.e, opts[i])
		}
		si.bot.env = []string{clockEnv}
		si.storeDir = filepath.Join(si.bot.dir, "store")
		mountTmpfs(t, r.e, si.storeDir, 64<<20)
		setMinFree(t, si.bot.config, soakMinFree)
		t.Cleanup(func() { si.bot.kill(t) }) // before the unmount
		keys, err := pgp.ParseKeys(si.bot.cli(t, "keys", "export", "--config", si.bot.config))
		if err != nil {
			t.Fatalf("%s: bot key: %v", si.Name, err)
		}
		si.key = keys
		r.inst[si.Name] = si
	}
	say("soak: folder %s; clock %s", r.e.dir, clockEnv)
	return r
}

// route gives every instance its Dovecot user and makes Postfix deliver
// each bot's own address to it and everything else to the sink, with the
// original recipient in the sink's Delivered-To.
func (r *soakRun) route() {
	t := r.t
	var alias strings.Builder
	fmt.Fprintf(&alias, "/^(%s\\+.*|bot-[a-z0-9-]+@example\\.org)$/ ${1}\n", sinkUser)
	users := []string{sinkUser + ":{PLAIN}" + sinkPass}
	for _, si := range r.order {
		fmt.Fprintf(&alias, "/^%s$/ %s@example.org\n", regexp.QuoteMeta(strings.ToLower(si.Address)), si.user)
		users = append(users, si.user+":{PLAIN}"+si.pass)
	}
	fmt.Fprintf(&alias, "/^(.*)@(.*)$/ %s+${1}=${2}@example.org\n", sinkUser)
	passwd := filepath.Join(r.e.dc.dir, "passwd")
	old, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatalf("read passwd: %v", err)
	}
	write(t, passwd, string(old)+strings.Join(users, "\n")+"\n", 0o644)
	maps := filepath.Join(r.e.pf.etc, "soak_alias")
	write(t, maps, alias.String(), 0o644)
	r.e.pf.stop(t)
	// Mail Postfix could not hand to Dovecot (a dovecot-restart fault) is
	// retried within seconds, not Postfix's 5 minutes (days simulated):
	// the soak judges the bots, not this queue.
	r.e.pf.appendConf(t, "main.cf", "virtual_alias_maps = regexp:"+maps+"\n"+
		"queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n")
	r.e.pf.start(t)
}

// setPassword changes user's password in Dovecot's passwd file (Dovecot
// reads it again at the next login).
func (d *dovecot) setPassword(t *testing.T, user, pass string) {
	t.Helper()
	path := filepath.Join(d.dir, "passwd")
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read passwd: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(old), "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, user+":") {
			lines[i] = user + ":{PLAIN}" + pass
		}
	}
	write(t, path, strings.Join(lines, "\n")+"\n", 0o644)
}

// soakEvent is one step of the run at a simulated time.
type soakEvent struct {
	at time.Time
	do func()
}

// play starts the bots and the watchers and carries out every action and
// fault at its simulated time.
func (r *soakRun) play() {
	t := r.t
	for _, si := range r.order {
		si.bot.start(t)
	}
	r.watched.Add(1 + len(r.order))
	go r.watchSink()
	for _, si := range r.order {
		go r.pollHealth(si)
	}
	var events []soakEvent
	for _, a := range r.plan.Actions {
		events = append(events, soakEvent{a.At, func() { r.act(a) }})
	}
	for _, f := range r.plan.Faults {
		rec := &soak.FaultRecord{Fault: f}
		events = append(events, soakEvent{f.At, func() { r.beginFault(rec) }})
		events = append(events, soakEvent{f.At.Add(f.For), func() { r.endFault(rec) }})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	for _, ev := range events {
		sleepUntil(r.clock.Wall(ev.at))
		// A run far behind its schedule measures nothing: stop it while
		// the cleanups can still run (go test's -timeout skips them).
		if late := time.Since(r.clock.Wall(ev.at)); late > 5*time.Minute {
			t.Fatalf("soak: %s behind the schedule at simulated %s", late.Round(time.Second), ev.at.Format(time.RFC3339))
		}
		ev.do()
	}
	sleepUntil(r.clock.Wall(r.plan.Start.Add(r.plan.Span)))
}

// aborted reports whether the test ended early.
func (r *soakRun) aborted() bool {
	select {
	case <-r.abort:
		return true
	default:
		return false
	}
}

// sleepUntil waits for wall time w (at once when it is past).
func sleepUntil(w time.Time) {
	if d := time.Until(w); d > 0 {
		timer := time.NewTimer(d)
		<-timer.C
	}
}

// act turns an action into mail and APPENDs it to its instance's INBOX, in
// its own goroutine so that the timeline goes on while Dovecot is down or
// while mail that answers the bot waits until the driver has seen what it
// answers.
func (r *soakRun) act(a soak.Action) {
	si := r.inst[a.Instance]
	if si == nil {
		r.t.Fatalf("action %s: no instance %q", a.ID, a.Instance)
	}
	var prev, done chan struct{}
	if a.Report != "" {
		if r.lastOn == nil {
			r.lastOn = map[string]chan struct{}{}
		}
		prev, done = r.lastOn[a.Report], make(chan struct{})
		r.lastOn[a.Report] = done
	}
	r.pending.Add(1)
	go func() {
		defer r.pending.Done()
		if done != nil {
			defer close(done)
		}
		var ref soakRef
		if a.Report != "" {
			var ok bool
			// A member answers the notification: while an SMTP outage of
			// a simulated day (100 s wall in a month) keeps it from them,
			// the answer waits.
			ref, ok = r.awaitRef(a.Report, strings.ToLower(a.From), r.member(si, a.From), r.clock.Wall(a.At).Add(refWait))
			if !ok {
				r.mu.Lock()
				r.skipped = append(r.skipped, a.ID)
				r.mu.Unlock()
				say("soak: skip %s %s %s: no mail of the bot about %s seen within %s", a.Kind, a.Instance, a.ID, a.Report, refWait)
				return
			}
			if prev != nil {
				<-prev
			}
		}
		if raw := r.compose(si, a, ref); raw != nil {
			r.deliver(si, a, raw)
		}
	}()
}

// refWait bounds the wait for the bot's mail an action answers (wall).
const refWait = 4 * time.Minute

// awaitRef waits, up to deadline (wall), until the driver knows the case
// tag of report and the bot's mail that from answers: a member answers
// their own notification (else the acknowledgement, else nothing: the
// protected Subject names the case), the reporter the acknowledgement.
func (r *soakRun) awaitRef(report, from string, member bool, deadline time.Time) (soakRef, bool) {
	timer := time.AfterFunc(time.Until(deadline), func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer timer.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		tag, ack := r.tags[report], r.acks[report]
		if member && tag != "" {
			if n := r.notes[tag+" "+from]; n != "" {
				ack = n
			}
			return soakRef{tag: tag, msgID: ack}, true
		}
		if !member && tag != "" && ack != "" {
			return soakRef{tag: tag, msgID: ack}, true
		}
		if time.Now().After(deadline) || r.aborted() {
			return soakRef{}, false
		}
		r.cond.Wait()
	}
}

// deliver APPENDs raw to the instance's INBOX, retrying (Dovecot may be
// down, the connection gone) for at most a few minutes, and records it.
func (r *soakRun) deliver(si *soakInstance, a soak.Action, raw []byte) {
	si.mu.Lock()
	defer si.mu.Unlock()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var err error
		if si.imp == nil {
			si.imp, err = openIMAP(r.e.dc.imapAddr, si.user, si.pass, nil)
		}
		if err == nil {
			if err = si.imp.appendMsg("INBOX", raw); err != nil {
				si.imp.c.Close()
				si.imp = nil
			}
		}
		if err == nil {
			break
		}
		if r.aborted() {
			return
		}
		if time.Now().After(deadline) {
			r.t.Errorf("soak: APPEND %s to %s: %v", a.ID, si.Name, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.mu.Lock()
	r.obs.Sent = append(r.obs.Sent, soak.Sent{Action: a.ID, At: r.clock.Sim(time.Now())})
	r.mu.Unlock()
}

// compose writes the mail of an action; ref is the bot's answer it replies
// to (reports, robots and spam answer nothing).
func (r *soakRun) compose(si *soakInstance, a soak.Action, ref soakRef) []byte {
	t := r.t
	at := r.clock.Sim(time.Now())
	msgID := "<" + a.ID + "@soak.test>"
	switch a.Kind {
	case soak.ActRobot, soak.ActSpam:
		raw, err := os.ReadFile(filepath.Join("..", "..", a.Sample))
		if err != nil {
			t.Errorf("action %s: %v", a.ID, err)
			return nil
		}
		raw = setField(raw, "Message-ID", msgID)
		if a.Kind == soak.ActSpam { // what the trusted MTA adds ([spam] trust)
			raw = setField(raw, "From", a.From)
			hdr, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
			raw = setField(raw, "Subject", "Soak spam "+a.ID+": "+hdr.Get("Subject"))
			raw = append([]byte("X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=20.0 required=5.0\r\n"), raw...)
		}
		return raw
	}
	h := [][2]string{{"From", a.From}, {"To", si.Address}, {"Date", at.Format(time.RFC1123Z)}, {"Message-ID", msgID}}
	subject := "Soak report " + a.ID + ": stored XSS in the profile page"
	text := "The display name is not escaped (" + a.ID + ").\n"
	if ref.tag != "" {
		subject = "Re: [" + ref.tag + "] " + a.Report
		text = "More detail on " + a.Report + " (" + a.ID + ").\n"
	}
	if ref.msgID != "" {
		h = append(h, [2]string{"In-Reply-To", "<" + ref.msgID + ">"}, [2]string{"References", "<" + ref.msgID + ">"})
	}
	if r.member(si, a.From) {
		// A member's mail is authenticated: signed by their key and
		// encrypted to the bot (README "what authenticates a team
		// command"), the case tag in the protected Subject, in reply to
		// their own notification when they had one.
		switch a.Kind {
		case soak.ActTeamCommand:
			text = a.Command + "\n\n" + a.ReporterText()
		case soak.ActWithdraw:
			text = "status rejected\n\nWithdrawn by the reporter.\n"
		default:
			text = a.ReporterText()
		}
		return r.pgpMIME(h, subject, "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n\r\n"+crlf(text), si, a.From, at)
	}
	if a.Kind == soak.ActWithdraw {
		text = "Please withdraw my report " + a.Report + ": it was a false alarm.\n"
	}
	key := r.keys[a.From]
	switch a.Format {
	case "pgp-mime":
		pub, _ := pgp.Armor(openpgp.EntityList{key})
		inner := "Content-Type: multipart/mixed; boundary=\"inner\"; protected-headers=\"v1\"\r\n\r\n--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + crlf(text) +
			"--inner\r\nContent-Type: application/pgp-keys; name=\"key.asc\"\r\nContent-Disposition: attachment; filename=\"key.asc\"\r\n\r\n" + crlf(string(pub)) + "\r\n--inner--\r\n"
		return r.pgpMIME(h, subject, inner, si, a.From, at)
	case "inline":
		var ct bytes.Buffer
		w, err := armor.Encode(&ct, "PGP MESSAGE", nil)
		if err == nil {
			var pw io.WriteCloser
			if pw, err = openpgp.Encrypt(w, si.key, key, nil, soakPGPConfig(at)); err == nil {
				io.WriteString(pw, text)
				err = pw.Close()
			}
			w.Close()
		}
		if err != nil {
			t.Errorf("action %s: inline encrypt: %v", a.ID, err)
			return nil
		}
		pub, _ := pgp.Armor(openpgp.EntityList{key})
		return mailBytes(append(h, [2]string{"Subject", subject}, [2]string{"MIME-Version", "1.0"},
			[2]string{"Content-Type", `multipart/mixed; boundary="mixed"`}),
			"--mixed\nContent-Type: text/plain; charset=us-ascii\n\n"+ct.String()+"\n"+
				"--mixed\nContent-Type: application/pgp-keys; name=\"key.asc\"\nContent-Disposition: attachment; filename=\"key.asc\"\n\n"+
				string(pub)+"\n--mixed--\n")
	case "attachment":
		return mailBytes(append(h, [2]string{"Subject", subject}, [2]string{"MIME-Version", "1.0"},
			[2]string{"Content-Type", `multipart/mixed; boundary="mixed"`}),
			"--mixed\nContent-Type: text/plain; charset=utf-8\n\n"+text+
				"--mixed\nContent-Type: text/x-python; name=\"poc.py\"\nContent-Disposition: attachment; filename=\"poc.py\"\n\n"+
				"import requests\nrequests.post('https://example.org/profile', data={'name': '<script>alert(1)</script>'})\n--mixed--\n")
	}
	return mailBytes(append(h, [2]string{"Subject", subject}, [2]string{"MIME-Version", "1.0"},
		[2]string{"Content-Type", "text/plain; charset=utf-8"}), text)
}

// pgpMIME is a PGP/MIME mail (RFC 3156 section 6.2: signed and encrypted
// in one OpenPGP message) from from to the bot of si, its inner entity
// carrying the protected Subject (RFC 9788); signed at the simulated time.
func (r *soakRun) pgpMIME(h [][2]string, subject, inner string, si *soakInstance, from string, at time.Time) []byte {
	var th textproto.Header
	for i := len(h) - 1; i >= 0; i-- {
		th.Add(h[i][0], h[i][1])
	}
	th.Set("Subject", "...")
	th.Set("MIME-Version", "1.0")
	var out bytes.Buffer
	w, err := pgpmail.Encrypt(&out, th, si.key, r.keys[from], soakPGPConfig(at))
	if err == nil {
		// The protected Subject: the first header field of the inner entity.
		_, err = io.WriteString(w, "Subject: "+subject+"\r\n"+inner)
		if err == nil {
			err = w.Close()
		}
	}
	if err != nil {
		r.t.Errorf("pgpmail.Encrypt from %s: %v", from, err)
		return nil
	}
	return out.Bytes()
}

func soakPGPConfig(at time.Time) *packet.Config {
	return &packet.Config{DefaultCipher: packet.CipherAES256, DefaultHash: crypto.SHA256, Time: func() time.Time { return at }}
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// setField replaces raw's header field name (with its continuation lines)
// by "name: value", or adds it on top.
func setField(raw []byte, name, value string) []byte {
	end := bytes.Index(raw, []byte("\n\n"))
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 && (end < 0 || i < end) {
		end = i
	}
	field := regexp.MustCompile(`(?im)^` + regexp.QuoteMeta(name) + `:[^\n]*\n([ \t][^\n]*\n)*`)
	if loc := field.FindIndex(raw[:max(end, 0)+1]); loc != nil {
		return append(append(append([]byte{}, raw[:loc[0]]...), name+": "+value+"\r\n"...), raw[loc[1]:]...)
	}
	return append([]byte(name+": "+value+"\r\n"), raw...)
}

func (r *soakRun) member(si *soakInstance, addr string) bool {
	for _, m := range si.Team {
		if strings.EqualFold(m.Address, addr) {
			return true
		}
	}
	return false
}

// beginFault carries out a fault; endFault ends one with a duration.
func (r *soakRun) beginFault(rec *soak.FaultRecord) {
	t := r.t
	rec.WallBegan = time.Now()
	rec.Began = r.clock.Sim(rec.WallBegan)
	si := r.inst[rec.Instance]
	switch rec.Kind {
	case soak.FaultKill:
		si.bot.kill(t)
		si.bot.start(t)
	case soak.FaultDovecot:
		// Dovecot's stop leaves the IMAP sessions it serves running for a
		// while: end the bots' sessions first, as a real outage does.
		for _, si := range r.order {
			r.doveadm(true, "kick", si.user)
		}
		r.e.dc.stop(t)
		// A session that logged in again between the kick and the stop
		// would outlive the master: end it, as a host going down does.
		killUnder(r.e.dc.dir)
	case soak.FaultSMTP:
		r.e.pf.stop(t)
	case soak.FaultPassword:
		si.pass = botPass + "-changed"
		r.e.dc.setPassword(t, si.user, si.pass)
		// Dovecot looks at passwd-file at most once a second: a bot that
		// logged in again within milliseconds of the kick was let in with
		// the old password (coosto, 03-12 in the month). Wait until the
		// new one works: the file was read again. (Not until the old one
		// is refused: each refusal takes auth_failure_delay, 2 s.)
		r.waitLogin(si.user, si.pass, true)
		// The bot's session outlives the change: Dovecot checks the
		// password at the next login. Kick it so that it logs in again.
		r.doveadm(true, "kick", si.user)
		// The fault begins here, for the bot: waiting for Dovecot may
		// take 2 s of wall time (a refused test login).
		rec.WallBegan = time.Now()
		rec.Began = r.clock.Sim(rec.WallBegan)
	case soak.FaultDiskFull:
		// As an admin's disk fills: less free than min_free_bytes, not
		// quite nothing, so that the bot sees it by its own check.
		path, size := fill(t, si.storeDir)
		if err := os.Truncate(path, size-soakFreeWhenFull); err != nil {
			t.Errorf("fault %s %s: %v", rec.Kind, rec.Instance, err)
		}
	case soak.FaultUIDValidity:
		r.doveadm(false, "mailbox", "update", "-u", si.user, "--uid-validity", strconv.FormatInt(time.Now().Unix(), 10), "INBOX")
	case soak.FaultSuspend:
		if si.bot.p != nil {
			si.bot.p.cmd.Process.Signal(syscall.SIGSTOP)
		}
	default:
		t.Fatalf("fault %s: unknown kind", rec.Kind)
	}
	say("soak fault %s %s sim=%s wall=%s", rec.Kind, orShared(rec.Instance), rec.Began.Format(time.RFC3339), rec.WallBegan.Format("15:04:05.000"))
	if rec.For == 0 {
		r.record(rec)
	}
}

func (r *soakRun) endFault(rec *soak.FaultRecord) {
	if rec.For == 0 {
		return
	}
	t := r.t
	si := r.inst[rec.Instance]
	switch rec.Kind {
	case soak.FaultDovecot:
		r.e.dc.start(t)
		r.flushPostfix()
	case soak.FaultSMTP:
		r.e.pf.start(t)
	case soak.FaultPassword:
		si.pass = botPass
		r.e.dc.setPassword(t, si.user, si.pass)
		r.waitLogin(si.user, si.pass, true)
	case soak.FaultDiskFull:
		if err := os.Remove(filepath.Join(si.storeDir, "filler")); err != nil {
			t.Errorf("fault %s %s: %v", rec.Kind, rec.Instance, err)
		}
	case soak.FaultSuspend:
		if si.bot.p != nil {
			si.bot.p.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	r.record(rec)
	say("soak fault %s %s ended sim=%s wall=%s", rec.Kind, orShared(rec.Instance), rec.Ended.Format(time.RFC3339), rec.WallEnded.Format("15:04:05.000"))
}

func (r *soakRun) record(rec *soak.FaultRecord) {
	rec.WallEnded = time.Now()
	rec.Ended = r.clock.Sim(rec.WallEnded)
	r.mu.Lock()
	r.obs.Faults = append(r.obs.Faults, *rec)
	r.mu.Unlock()
}

func orShared(instance string) string {
	if instance == "" {
		return "servers"
	}
	return instance
}

// flushPostfix asks Postfix to deliver its deferred mail now.
func (r *soakRun) flushPostfix() {
	ctx, cancel := context.WithTimeout(context.Background(), serverWait)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "postqueue", "-c", r.e.pf.etc, "-f").CombinedOutput(); err != nil {
		r.t.Errorf("postqueue -f = %v\n%s", err, out)
	}
}

// doveadm runs doveadm on the soak's Dovecot; a failure fails the test
// unless mayFail (kick finds no session to end).
func (r *soakRun) doveadm(mayFail bool, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), serverWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "doveadm", append([]string{"-c", r.e.dc.conf}, args...)...).CombinedOutput()
	if err != nil && !mayFail {
		r.t.Errorf("doveadm %s = %v\n%s", strings.Join(args, " "), err, out)
	}
	return err
}

// waitLogin waits until Dovecot's auth accepts (or refuses) user's login
// with pass, polling doveadm auth test: the state a password fault needs
// before it starts.
func (r *soakRun) waitLogin(user, pass string, accepted bool) {
	deadline := time.Now().Add(serverWait)
	for {
		err := r.doveadm(true, "auth", "test", "-x", "service=imap", user, pass)
		if (err == nil) == accepted {
			return
		}
		if time.Now().After(deadline) {
			r.t.Errorf("doveadm auth test %s: accepted=%v after %v, want %v", user, err == nil, serverWait, accepted)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watchSink records every mail the bots send as it arrives in the sink
// (NOOP every 50 ms: Dovecot delays IDLE notices by up to half a second,
// which is many simulated minutes), and in the bots' own INBOX nothing: the
// bots read that themselves.
func (r *soakRun) watchSink() {
	defer r.watched.Done()
	var last imap.UID
	var conn *imapConn
	defer func() {
		if conn != nil {
			conn.c.Close()
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	final := false
	for {
		select {
		case <-r.stop:
			final = true
		case <-tick.C:
		}
		if conn == nil {
			c, err := openIMAP(r.e.dc.imapAddr, sinkUser, sinkPass, nil)
			if err == nil {
				if _, err = c.c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
					c.c.Close()
				} else {
					conn = c
				}
			}
		}
		if conn != nil {
			seen := time.Now()
			if err := conn.c.Noop().Wait(); err == nil {
				msgs, err := r.fetchNew(conn, last)
				for _, m := range msgs {
					r.observe(m.Raw, seen)
					last = max(last, m.UID)
				}
				if err != nil {
					conn.c.Close()
					conn = nil
				}
			} else {
				conn.c.Close()
				conn = nil
			}
		}
		if final {
			return
		}
	}
}

// fetchNew fetches the messages above UID last.
func (r *soakRun) fetchNew(conn *imapConn, last imap.UID) ([]*stored, error) {
	var set imap.UIDSet
	set.AddRange(last+1, 0)
	msgs, err := conn.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return nil, err
	}
	var out []*stored
	for _, m := range msgs {
		if m.UID <= last { // "N:*" always matches the highest UID
			continue
		}
		out = append(out, &stored{UID: m.UID, Raw: m.FindBodySection(&imap.FetchItemBodySection{Peek: true})})
	}
	return out, nil
}

// observe records one mail a bot sent, seen at wall time seen.
func (r *soakRun) observe(raw []byte, seen time.Time) {
	m, plain := r.parseMail(raw)
	m.At = r.clock.Sim(seen)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs.Mail = append(r.obs.Mail, m)
	tag := ""
	if s := soakTagRE.FindStringSubmatch(m.Subject); s != nil {
		tag = s[1]
	}
	if tag != "" {
		// The acknowledgement answers the report; the team's notification
		// carries it (held spam has only that).
		if id, ok := strings.CutSuffix(m.InReplyTo, "@soak.test"); ok && r.acks[id] == "" && r.actions[id].Kind == soak.ActReport {
			r.acks[id], r.tags[id] = m.MessageID, tag
		}
		for _, s := range soakIDRE.FindAllSubmatch(append([]byte(m.Subject+"\n"), plain...), -1) {
			id := string(s[1]) + string(s[2])
			if k := r.actions[id].Kind; r.tags[id] == "" && (k == soak.ActReport || k == soak.ActSpam) {
				r.tags[id] = tag
			}
		}
		r.notes[tag+" "+strings.ToLower(m.To)] = m.MessageID
	}
	r.cond.Broadcast()
}

// parseMail reads what the oracle needs of a bot's mail: the original
// recipient from Delivered-To, the thread fields, and Subject and text
// decrypted with the recipient's key when it is encrypted.
func (r *soakRun) parseMail(raw []byte) (m soak.Mail, plain []byte) {
	ent, err := message.Read(bytes.NewReader(raw))
	if ent == nil {
		m.Body = "(unreadable: " + err.Error() + ")"
		return m, raw
	}
	h := ent.Header
	m.Headers = map[string]string{}
	for f := h.Fields(); f.Next(); {
		if _, ok := m.Headers[f.Key()]; !ok {
			v, err := f.Text()
			if err != nil {
				v = f.Value()
			}
			m.Headers[f.Key()] = v
		}
	}
	m.To = soakRecipient(h.Get("Delivered-To"))
	m.MessageID = strings.Trim(h.Get("Message-ID"), "<> ")
	m.InReplyTo = strings.Trim(h.Get("In-Reply-To"), "<> ")
	for _, ref := range strings.Fields(h.Get("References")) {
		m.References = append(m.References, strings.Trim(ref, "<>"))
	}
	m.Subject = m.Headers["Subject"]
	from := strings.ToLower(h.Get("From"))
	for _, si := range r.order {
		if strings.Contains(from, strings.ToLower(si.Address)) {
			m.Instance = si.Name
		}
	}
	if block := armoredBlock(raw); block != nil {
		if plain, err := r.decrypt(block); err == nil {
			if inner, err := message.Read(bytes.NewReader(plain)); err == nil && inner.Header.Get("Content-Type") != "" {
				if s, err := inner.Header.Text("Subject"); err == nil && s != "" {
					m.Subject = s
				}
				m.Body = entityText(inner)
			} else {
				m.Body = string(plain)
			}
			return m, plain
		} else {
			m.Body = "(not decrypted: " + err.Error() + ")"
			return m, raw
		}
	}
	m.Body = entityText(ent)
	return m, raw
}

// soakRecipient turns sink+LOCAL=DOMAIN@example.org back into LOCAL@DOMAIN.
func soakRecipient(delivered string) string {
	addr := strings.Trim(strings.TrimSpace(delivered), "<>")
	if rest, ok := strings.CutPrefix(addr, sinkUser+"+"); ok {
		rest = strings.TrimSuffix(rest, "@example.org")
		if i := strings.LastIndex(rest, "="); i >= 0 {
			return rest[:i] + "@" + rest[i+1:]
		}
	}
	return addr
}

// entityText is the text/* parts of e, decoded, one after the other.
func entityText(e *message.Entity) string {
	var b strings.Builder
	e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return nil
		}
		t, _, _ := part.Header.ContentType()
		if strings.HasPrefix(t, "text/") {
			body, _ := io.ReadAll(io.LimitReader(part.Body, 1<<20))
			b.Write(body)
		}
		return nil
	})
	return b.String()
}

// decrypt opens an armored OpenPGP message with the people's keys.
func (r *soakRun) decrypt(block []byte) ([]byte, error) {
	blk, err := armor.Decode(bytes.NewReader(block))
	if err != nil {
		return nil, err
	}
	md, err := openpgp.ReadMessage(blk.Body, r.ring, nil, nil)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(md.UnverifiedBody, 16<<20))
}

// pollHealth samples the instance's /healthz every 200 ms.
func (r *soakRun) pollHealth(si *soakInstance) {
	defer r.watched.Done()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.stopHealth:
			return
		case <-tick.C:
		}
		h := soak.Health{Instance: si.Name}
		resp, err := client.Get(si.health)
		if err != nil {
			h.Problems = "unreachable: " + err.Error()
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			h.OK = resp.StatusCode == http.StatusOK
			if !h.OK {
				h.Problems = strings.TrimSpace(string(b))
			}
		}
		h.At = r.clock.Sim(time.Now())
		r.mu.Lock()
		r.obs.Health = append(r.obs.Health, h)
		r.mu.Unlock()
	}
}

// finish waits for the actions in hand, stops the health polls, the bots
// (SIGTERM), the sink's watch after a last look, and reads every store.
func (r *soakRun) finish() {
	t := r.t
	r.pending.Wait()
	for _, si := range r.order {
		r.awaitRead(si, time.Minute)
	}
	r.stopOnce[0].Do(func() { close(r.stopHealth) })
	for _, si := range r.order {
		if si.bot.p != nil {
			si.bot.p.cmd.Process.Signal(syscall.SIGCONT) // a suspend may run past the end
		}
		si.bot.stop(t)
		si.mu.Lock()
		if si.imp != nil {
			si.imp.c.Close()
		}
		si.mu.Unlock()
	}
	r.stopOnce[1].Do(func() { close(r.stop) })
	r.watched.Wait()
	for _, si := range r.order {
		for _, c := range si.bot.cases(t) {
			for _, m := range si.bot.caseJSON(t, c.Ref).Timeline {
				if m.Direction == "in" {
					r.obs.Stored = append(r.obs.Stored, soak.Stored{Instance: si.Name, MessageID: strings.Trim(m.MessageID, "<>"), Case: c.Ref})
				}
			}
		}
		// Mail on no case (robots, quarantine): no command lists it.
		st, err := store.Open(filepath.Join(si.storeDir, "mailbot.db"), store.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: store.Open() = %v", si.Name, err)
		}
		err = st.View(func(tx *store.Tx) error {
			ms, err := tx.Messages(0)
			for _, m := range ms {
				if m.Direction == "in" {
					r.obs.Stored = append(r.obs.Stored, soak.Stored{Instance: si.Name, MessageID: m.MessageID})
				}
			}
			return err
		})
		st.Close()
		if err != nil {
			t.Fatalf("%s: messages on no case: %v", si.Name, err)
		}
	}
	if len(r.skipped) > 0 {
		t.Errorf("soak: %d actions not sent (nothing to reply to): %v", len(r.skipped), r.skipped)
	}
}

// awaitRead waits, at most timeout, until the bot has marked every
// message of its INBOX \Seen (imap.after = "seen": after its commit), so
// that a SIGTERM does not end it before it read the last mail delivered.
func (r *soakRun) awaitRead(si *soakInstance, timeout time.Duration) {
	si.mu.Lock()
	defer si.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if si.imp == nil {
			si.imp, _ = openIMAP(r.e.dc.imapAddr, si.user, si.pass, nil)
		}
		if si.imp != nil {
			msgs, err := si.imp.list("INBOX", false)
			unseen := 0
			for _, m := range msgs {
				if !m.Seen {
					unseen++
				}
			}
			if err == nil && unseen == 0 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	say("soak: %s: INBOX still has unseen mail %s after the last action", si.Name, timeout)
}

// check hands the run to the oracle and prints its report; the plan, what
// was observed (JSON, for checking again offline), the report and a list of
// the bots' mail stay in the run's folder.
func (r *soakRun) check() {
	t := r.t
	var b strings.Builder
	for _, m := range r.obs.Mail {
		fmt.Fprintf(&b, "%s %-8s to=%s msgid=%s in-reply-to=%s subject=%q\n\t%q\n", m.At.Format(time.RFC3339), m.Instance, m.To, m.MessageID, m.InReplyTo, m.Subject, m.Body[:min(len(m.Body), 300)])
	}
	write(t, filepath.Join(r.e.dir, "soak-mail.txt"), b.String(), 0o644)
	for name, v := range map[string]any{"soak-plan.json": r.plan, "soak-observed.json": r.obs} {
		j, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		write(t, filepath.Join(r.e.dir, name), string(j), 0o644)
	}
	// The bots' network waits run on the wall clock (README "Soak"), and
	// look Scale times longer in simulated time; the oracle's own bounds
	// (30m detect, 1h recover, the outbox's 1h simulated backoff) get:
	//   - DetectWithin + 0.4 wall s: /healthz is sampled every 200 ms wall,
	//     two samples; the bot sees a server fault at once (its session
	//     is kicked, the login fails) and a low disk at its next check.
	//   - RecoverWithin and Reconnect + 30 wall s: the IMAP reconnect
	//     backoff (inbox: 1 s doubling, full jitter, cap 5 min) after a
	//     fault of at most 14 wall s (the longest IMAP fault of the month,
	//     3.7 h simulated at 960) is capped at 16 s, 32 s if the jitter
	//     drew short waits; the intake's retry after a full disk is the
	//     same backoff. At 960, 30 wall s are 8 h simulated: Reconnect is
	//     not capped by the fault's length (Backoff is, as the outbox's
	//     simulated retry doubles from 1 min).
	wall := func(d time.Duration) time.Duration { return time.Duration(float64(d) * r.obs.Clock.Scale) }
	rep := soak.Check(r.plan, r.obs, soak.CheckOptions{
		DetectWithin:  30*time.Minute + wall(400*time.Millisecond),
		RecoverWithin: time.Hour + wall(30*time.Second),
		Backoff:       time.Hour,
		Reconnect:     wall(30 * time.Second),
	})
	table := rep.Table()
	write(t, filepath.Join(r.e.dir, "soak-report.md"), table, 0o644)
	for _, line := range strings.Split(strings.TrimRight(table, "\n"), "\n") {
		say("%s", line)
	}
	say("soak: report, plan and observations in %s (soak-report.md, soak-plan.json, soak-observed.json)", r.e.dir)
	for _, v := range rep.Violations() {
		t.Errorf("soak violation: %s %s report=%s case=%s at=%s due=%s: %s", v.Check, v.Instance, v.Report, v.Case,
			v.At.Format(time.RFC3339), v.Due.Format(time.RFC3339), v.Detail)
	}
}
