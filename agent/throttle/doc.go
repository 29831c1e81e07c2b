// Package throttle paces the data pgduet moves so that it stays at the rates the
// config's throttle blocks ask for (throttle "initial" and throttle
// "incremental": rows, megabytes and queries per second, 0 meaning no limit).
//
// One Limiter is built per throttled phase and shared by every goroutine of that
// phase, for instance the parallel COPY workers of an initial copy. Each worker
// calls Wait after (or before) moving a batch with the rows, bytes and queries the
// batch represents; Wait adds them to the shared budget and sleeps for as long as
// that budget says. Converting the config's mb_per_second into
// Limits.BytesPerSecond is the caller's business.
//
// What a Limiter guarantees:
//
//   - Long-run rate. Every dimension with a limit has its own budget, and all
//     callers draw on the same one, so the rate summed over all workers converges
//     to the limit, not to the limit per worker. The pacing is exact on average:
//     oversleeping by less than the burst (timer latency, scheduling) is made up
//     on the next calls, so measured over a run of a few seconds the rate is the
//     limit, not merely at most the limit. When several dimensions are limited
//     the tightest one sets the pace.
//   - Bounded burst. Callers may run ahead of the budget by at most 50 ms worth of
//     the rate (or one unit, if that is more), at the start and after any idle
//     period alike. Budget left unused while idle is not saved up, so a pause is
//     never followed by a catch-up spike, and the start of a short run does not
//     inflate its rate by more than those 50 ms.
//   - Large amounts are debt, not errors. A single call may account far more than
//     a second's worth (a big batch); it is accepted at once and the caller, and
//     whoever draws on the same dimension after it, waits in proportion.
//   - Cancellation. A Wait whose context ends while sleeping returns ctx.Err()
//     at once; what it accounted stays accounted, so abandoning a wait does not
//     hand out extra budget.
//
// A nil *Limiter, which New returns when no dimension is limited, is valid and
// never waits, so callers need no special case for an unthrottled phase.
//
// The mechanism is the virtual-time form of a token bucket (GCRA): each dimension
// remembers the time at which the work accounted so far will have been paid for;
// accounting an amount pushes that time forward by amount/rate, and the caller
// sleeps until the latest of those times less the allowed burst. The state is
// kept under a mutex; the sleeping happens outside it.
package throttle
