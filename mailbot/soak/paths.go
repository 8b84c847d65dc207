package soak

// policyDir is where the seed policies are, relative to mailbot/soak and to
// mailbot/e2e (both two levels below the repository root).
const policyDir = "../../testdata/policies"
