// This file checks that what Linearizable adds to a plain register model to
// speed up its search (pruneUnseen, keyFacts.allows) never changes a
// verdict: on small random histories, some of them mutated into illegal
// ones, it must agree with porcupine run on the plain model.

package check

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/anishathalye/porcupine"
)

// plainModel is the register with nothing known beforehand.
var plainModel = porcupine.Model{
	Init: func() any { return regState{} },
	Step: func(state, input, _ any) (bool, any) { return regStep(state.(regState), input.(RegOp)) },
}

// plainVerdict checks one key's ops on the plain model, unpruned.
func plainVerdict(ops []RegOp) bool {
	var history []porcupine.Operation
	var inf int64
	for _, o := range ops {
		inf = max(inf, o.Call+1, o.Return+1)
	}
	for _, o := range ops {
		if !linearizable(o) {
			continue
		}
		ret := o.Return
		if o.Unknown {
			ret = inf
		}
		history = append(history, porcupine.Operation{ClientId: o.Client, Input: o, Call: o.Call, Return: ret})
	}
	return porcupine.CheckOperations(plainModel, history)
}

// mutate changes one random op of a history in a way that may make it
// illegal, and says what it did.
func mutate(rng *rand.Rand, ops []RegOp) string {
	i := rng.IntN(len(ops))
	o := &ops[i]
	before := o.String()
	switch rng.IntN(6) {
	case 0:
		o.Version += int32(rng.IntN(3)) - 1
	case 1:
		o.Value = ops[rng.IntN(len(ops))].Value
	case 2:
		o.OK = !o.OK
	case 3:
		o.Unknown = !o.Unknown
	case 4:
		o.Expect += int32(rng.IntN(3)) - 1
	case 5:
		o.Version = 0
	}
	return fmt.Sprintf("%s became %s", before, o)
}

func TestLinearizableAgreesWithPlainModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	legal, illegal := 0, 0
	for seed := range uint64(300) {
		ops := simulate(seed, 2+int(seed%4), 8, 30, []string{"k"}).ops
		what := "unchanged"
		if seed%3 != 0 {
			what = mutate(rng, ops)
		}
		want := plainVerdict(ops)
		res := Linearizable(ops, timeout)
		if res.Undecided || res.OK != want {
			t.Fatalf("seed %d (%s): plain model says %v, Linearizable says %v %q", seed, what, want, res.OK, res.Problems)
		}
		if want {
			legal++
		} else {
			illegal++
		}
	}
	t.Logf("%d legal, %d illegal histories agreed on", legal, illegal)
	if illegal < 50 || legal < 50 {
		t.Fatalf("too few of one kind: %d legal, %d illegal", legal, illegal)
	}
}
