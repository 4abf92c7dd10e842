package simulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Generated data: realistic enough to exercise a client and a database
// (every documented status, undocumented ones, unusual text, ties in
// create_time, gaps in ids, undocumented fields), and deterministic: the
// same rng state always gives the same jobs.

// statusWeights weights the generated status codes: mostly completed,
// running, killed and failed, every documented code now and then, and
// undocumented codes (23, 99) rarely.
var statusWeights = func() []struct{ status, weight int } {
	w := map[int]int{8: 36, 10: 60, 12: 28, 11: 20, 7: 6, 1: 4, 13: 6, 23: 1, 99: 1}
	var out []struct{ status, weight int }
	for st := 0; st <= 22; st++ {
		out = append(out, struct{ status, weight int }{st, max(w[st], 2)})
	}
	out = append(out, struct{ status, weight int }{23, w[23]}, struct{ status, weight int }{99, w[99]})
	return out
}()

func pickStatus(rng *rand.Rand) int {
	total := 0
	for _, sw := range statusWeights {
		total += sw.weight
	}
	n := rng.IntN(total)
	for _, sw := range statusWeights {
		if n < sw.weight {
			return sw.status
		}
		n -= sw.weight
	}
	return 10
}

// started reports whether a job in this status has run (and so has a duration).
func started(status int) bool {
	switch status {
	case 0, 1, 2, 3, 4, 5, 7, 13, 18, 22:
		return false
	}
	return true
}

// serving reports whether the TensorBoard of a job in this status is reachable.
func serving(status int) bool { return status == 8 || status == 9 || status == 15 }

func serviceURL(project string, id int64, status int) string {
	if !serving(status) {
		return ""
	}
	return fmt.Sprintf("https://console.huaweicloud.com/modelarts/tensorboard/%s/%d/", project, id)
}

// activeDays is how long before the simulator's epoch a generated job may still be in a status that
// is not final (queued, running, ...).
const activeDays = 14

// generate builds n jobs with increasing ids whose create_time is spread,
// non-decreasing with the id, over the year before epoch.
func generate(rng *rand.Rand, n int, epoch time.Time, project string) []*JobState {
	if n <= 0 {
		return nil
	}
	const year = int64(365 * 24 * time.Hour / time.Millisecond)
	end := epoch.UnixMilli()
	times := make([]int64, n)
	for i := range times {
		times[i] = end - year + rng.Int64N(year)
	}
	slices.Sort(times)
	for i := 1; i < n; i++ {
		if rng.IntN(25) == 0 { // several jobs created in the same millisecond
			times[i] = times[i-1]
		}
	}
	// As in a real history, the jobs that have not ended are recent ones: a job created more than
	// activeDays before epoch has a final status (or an undocumented one, whose meaning is unknown).
	recent := end - activeDays*int64(24*time.Hour/time.Millisecond)
	statuses := make([]int, n)
	for i := range statuses {
		statuses[i] = pickStatus(rng)
		for times[i] < recent && !final(statuses[i]) && statuses[i] <= 22 {
			statuses[i] = pickStatus(rng)
		}
	}
	if n >= 100 { // every documented status appears at least once: the ones not final on the newest jobs
		newest := max(n/20, 23)
		recentPos, olderPos := rng.Perm(newest), rng.Perm(n-newest) // distinct positions in each range
		for st := range 23 {
			if final(st) {
				statuses[olderPos[st]] = st
			} else {
				statuses[n-1-recentPos[st]] = st
			}
		}
	}
	jobs := make([]*JobState, n)
	id := 10000 + rng.Int64N(1000)
	for i := range jobs {
		jobs[i] = buildJob(rng, id, times[i], statuses[i], end-times[i], project)
		id++
		if rng.IntN(4) == 0 { // jobs deleted long ago leave gaps
			id += 1 + rng.Int64N(40)
		}
	}
	return jobs
}

// buildJob builds one job; ageMs bounds the duration of a running job.
func buildJob(rng *rand.Rand, id, createTime int64, status int, ageMs int64, project string) *JobState {
	name := jobName(rng)
	j := &JobState{
		ID:         id,
		Name:       name,
		Status:     status,
		CreateTime: createTime,
		Desc:       jobDesc(rng),
		ServiceURL: serviceURL(project, id, status),
		TrainURL:   trainURL(rng, name),
	}
	if started(status) {
		const minute = int64(time.Minute / time.Millisecond)
		limit := 3 * 24 * 60 * minute // finished jobs ran up to three days
		if status == 8 {
			limit = min(30*24*60*minute, max(ageMs, 2*minute)) // running since creation at most
		}
		j.Duration = 30_000 + rng.Int64N(limit)
	}
	if rng.IntN(5) != 0 {
		j.ResourceID = uuid(rng)
	}
	if rng.IntN(2) == 0 {
		j.HasRemainingDuration = true
	}
	if rng.IntN(12) == 0 {
		hours := 1 + rng.IntN(24)
		j.setExtra("schedule", fmt.Sprintf(`{"type":"stop","time_unit":"HOURS","duration":%d}`, hours))
		if status == 8 {
			rem := rng.Int64N(int64(hours) * 3_600_000)
			j.HasRemainingDuration, j.RemainingDuration = true, &rem
		}
	}
	if rng.IntN(16) == 0 {
		j.setExtra("flavor", strconv.Quote(flavors[rng.IntN(len(flavors))]))
	}
	if rng.IntN(30) == 0 {
		j.setExtra("nested", `{"a":[1,2,{"b":null}]}`)
	}
	return j
}

func (j *JobState) setExtra(key, rawJSON string) {
	if j.Extra == nil {
		j.Extra = make(map[string]any)
	}
	j.Extra[key] = json.RawMessage(rawJSON)
}

var (
	flavors     = []string{"modelarts.vm.cpu.2u", "modelarts.vm.cpu.8u", "modelarts.p3.large.public", "modelarts.bm.gpu.8v100"}
	namePrefix  = []string{"tb", "tb", "viz", "tensorboard", "TB", "exp", "job"}
	nameModel   = []string{"resnet50", "ResNet101", "bert-base", "yolov5s", "vit_b16", "unet", "gpt2-small", "mobilenetV3", "lstm", "efficientnet_b0", "swin-t", "wav2vec2"}
	nameHyper   = []string{"lr0_01", "lr3e-4", "lr1e-3", "bs32", "bs256", "ep100", "wd1e-5", "adamw", "sgd", "fp16", "warmup500"}
	buckets     = []string{"obs-bucket", "obs-bucket", "ml-team-logs", "wph-test"}
	descPhrases = []string{
		"ModelArts API Dialtest",
		"baseline run",
		"TensorBoard for the nightly training",
		"compare learning-rate schedules",
		"ablation: no dropout, no mixup",
		"retry after OOM on 8x V100",
		"可视化作业：训练损失曲线",
		"图像分类基线实验",
		"对比不同学习率的收敛速度",
		"夜间训练任务的TensorBoard",
		"🚀 launch",
		"📈 loss going down",
		"🔥🔥🔥",
		"✅ done 👍🏽",
		`he said "ship it"`,
		`"quoted" at both "ends"`,
		`C:\data\runs\exp1`,
		`regex \d+\.\d+ matched`,
		`\\nas01\share\tb`,
		"<b>html</b> & ampersands",
		"line one\nline two",
		"col1\tcol2\tcol3",
		"ends with a space ",
		"50% done; ETA 2h",
	}
	descSeps = []string{" ", " ", "\n", "\t", " - ", "；", "\r\n"}
)

// jobName gives names of letters, digits, - and _ (as ModelArts allows), at
// most 64 characters; duplicates happen now and then.
func jobName(rng *rand.Rand) string {
	sep := "-"
	if rng.IntN(6) == 0 {
		sep = "_"
	}
	parts := []string{namePrefix[rng.IntN(len(namePrefix))], nameModel[rng.IntN(len(nameModel))]}
	for range rng.IntN(3) {
		parts = append(parts, nameHyper[rng.IntN(len(nameHyper))])
	}
	parts = append(parts, fmt.Sprintf("%03d", rng.IntN(1000)))
	name := strings.Join(parts, sep)
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// jobDesc gives an empty, short or long description mixing ASCII, Chinese,
// emoji, quotes, backslashes, newlines and tabs.
func jobDesc(rng *rand.Rand) string {
	if rng.IntN(5) == 0 {
		return ""
	}
	n := 1 + rng.IntN(3)
	if rng.IntN(20) == 0 {
		n = 10 + rng.IntN(15) // a few hundred characters
	}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(descSeps[rng.IntN(len(descSeps))])
		}
		b.WriteString(descPhrases[rng.IntN(len(descPhrases))])
	}
	return b.String()
}

func trainURL(rng *rand.Rand, name string) string {
	u := "/" + buckets[rng.IntN(len(buckets))] + "/experiments/" + name + "/"
	if rng.IntN(4) == 0 {
		u += "logs/"
	}
	return u
}

// uuid formats 16 random bytes as a version 4 UUID.
func uuid(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
