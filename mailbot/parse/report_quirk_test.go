package parse

import (
	"strings"
	"testing"
)

// arfUnindentedBoundary is an RFC 5965 feedback report whose Content-Type
// has its boundary= on an unindented next line (issue 18), the shape of
// sisimai's arf-15.eml with the folding white space removed.
const arfUnindentedBoundary = "From: feedbackloop@feedback.example.org\r\n" +
	"To: abuse@example.com\r\n" +
	"Subject: Abuse Report\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=feedback-report;\r\n" +
	"boundary=\"_----------=_1500\"\r\n" +
	"\r\n" +
	"--_----------=_1500\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n" +
	"--_----------=_1500\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: ReturnPathFBL/1.0\r\nVersion: 1\r\n\r\n" +
	"--_----------=_1500\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@example.net\r\nMessage-ID: <orig@example.net>\r\nSubject: Nyaan\r\n\r\nNyaan\r\n" +
	"--_----------=_1500--\r\n"

// TestReportTypeWithBrokenHeader: the unindented boundary= line is read as
// a continuation of Content-Type (QUIRK), so the report is walked; and when
// no boundary survives at all, the report-type still reaches Report.
func TestReportTypeWithBrokenHeader(t *testing.T) {
	m, err := Parse(strings.NewReader(arfUnindentedBoundary), Limits{})
	if err != nil {
		t.Fatalf("Parse() = %v, want nil error", err)
	}
	if m.ContentType != "multipart/report" || m.Report == nil || m.Report.Type != "feedback-report" {
		t.Fatalf("Parse() ContentType %q, Report %+v, want multipart/report, feedback-report", m.ContentType, m.Report)
	}
	if m.Report.OriginalMessageID != "orig@example.net" {
		t.Errorf("Parse() Report.OriginalMessageID = %q, want orig@example.net (the parts were walked)", m.Report.OriginalMessageID)
	}
	if !hasWarning(m, "unindented") {
		t.Errorf("Parse() Warnings = %q, want one about the unindented parameter", m.Warnings)
	}

	noBoundary := strings.Replace(arfUnindentedBoundary, "boundary=\"_----------=_1500\"\r\n", "", 1)
	m, err = Parse(strings.NewReader(noBoundary), Limits{})
	if err != nil {
		t.Fatalf("Parse(no boundary) = %v, want nil error", err)
	}
	if m.ContentType != "multipart/report" || m.Report == nil || m.Report.Type != "feedback-report" {
		t.Errorf("Parse(no boundary) ContentType %q, Report %+v, want multipart/report, feedback-report", m.ContentType, m.Report)
	}

	// A line that is not a parameter after Content-Type stays dropped.
	m, err = Parse(strings.NewReader("From: a@example.com\r\nContent-Type: text/plain;\r\nnot a parameter\r\nSubject: s\r\n\r\nbody\r\n"), Limits{})
	if err != nil || m.Subject != "s" || hasWarning(m, "unindented") {
		t.Errorf("Parse(text line after Content-Type) = %v, subject %q, warnings %q; want the line dropped", err, m.Subject, m.Warnings)
	}
}

func hasWarning(m *Message, sub string) bool {
	for _, w := range m.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}
