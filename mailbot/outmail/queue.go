package outmail

import (
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/internal/workers"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/team"
	"mailbot/store"
	"mailbot/templates"
)

// ErrPanic is a panic while sealing a mail: a bug tickled by the mail, not
// a passing fault.
var ErrPanic = errors.New("outmail: panic")

// Queue holds the outgoing mail of one transaction until Flush: each mail
// has its outbox item (Message-ID, recipients, times) at once, its bytes
// only when Flush seals them all in parallel. A Queue belongs to one
// goroutine.
type Queue struct {
	c     *Composer
	owner int
	jobs  []sealJob
}

type sealJob struct {
	item  *store.OutboxItem
	seal  func() ([]byte, error)
	owner int
}

// NewQueue is an empty queue for one transaction.
func (c *Composer) NewQueue() *Queue { return &Queue{c: c} }

// SetOwner says which piece of work (a batch's message) the mail added
// from now on belongs to: Flush names it when that mail fails.
func (q *Queue) SetOwner(i int) { q.owner = i }

// Add queues o and returns its outbox item, complete but for its bytes.
func (q *Queue) Add(o Mail) *store.OutboxItem {
	item, seal := q.c.prepare(o)
	q.jobs = append(q.jobs, sealJob{item: item, seal: seal, owner: q.owner})
	return item
}

// Seal writes the bytes of every queued mail not sealed yet, in parallel.
// On error it returns the owner of the first mail that failed; nothing is
// enqueued.
func (q *Queue) Seal() (int, error) {
	raws := make([][]byte, len(q.jobs))
	errs := make([]error, len(q.jobs))
	workers.Each(len(q.jobs), func(i int) {
		if q.jobs[i].item.Raw != nil {
			raws[i] = q.jobs[i].item.Raw
			return
		}
		defer func() {
			if p := recover(); p != nil {
				errs[i] = fmt.Errorf("%w: %v", ErrPanic, p)
			}
		}()
		raws[i], errs[i] = q.jobs[i].seal()
	})
	for i, j := range q.jobs {
		if errs[i] != nil {
			return j.owner, fmt.Errorf("compose: %w", errs[i])
		}
		j.item.Raw = raws[i]
	}
	return 0, nil
}

// Flush seals every queued mail and writes it to the outbox in tx, in the
// order added; the queue is empty afterwards. On error it returns the owner
// of the mail that failed (the transaction must then be rolled back).
func (q *Queue) Flush(tx *store.Tx) (int, error) {
	if i, err := q.Seal(); err != nil {
		return i, err
	}
	jobs := q.jobs
	q.jobs = nil
	for _, j := range jobs {
		if err := tx.Enqueue(j.item); err != nil {
			return j.owner, err
		}
	}
	return 0, nil
}

// ToMember renders template name with data and queues it to member m,
// encrypted when they have a key (and the bot one).
func (q *Queue) ToMember(c *store.Case, m team.Member, name string, data templates.Data, inReplyTo string) error {
	subject, body, err := q.c.Templates.Render(name, []string{"en"}, data)
	if err != nil {
		return err
	}
	o := Mail{Kind: "team", To: &mail.Address{Name: m.Name, Address: m.Address}, Subject: subject, Body: body, InReplyTo: inReplyTo}
	if c != nil {
		o.CaseID, o.CaseRef = c.ID, c.Ref
	}
	o.Encrypt = q.c.MemberKey(m)
	q.Add(o)
	return nil
}

// MemberKey is the key to encrypt mail to member m with, nil when m has
// none or the bot has no key to sign with.
func (c *Composer) MemberKey(m team.Member) openpgp.EntityList {
	if e := pgp.KeyForAddress(m.Keys, m.Address); e != nil && c.Keys != nil {
		return openpgp.EntityList{e}
	}
	return nil
}
