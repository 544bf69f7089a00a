// Package nodes is a wmr cluster node: membership (the only package that
// imports memberlist), the dataset catalog and shard storage on local
// disk, and the HTTP API that clients and peers use.
//
// Membership: nodes gossip with hashicorp/memberlist; each node's metadata
// carries its HTTP address and the protocol version. memberlist's types
// stay inside this package, behind Member.
//
// Datasets: a dataset is a set of shards (text files cut at line
// boundaries). `put` cuts input into shards and places each on Replicas
// distinct live nodes chosen by rendezvous hashing of the shard's ID over
// the members' names, so placement is stable as members come and go. A
// dataset's manifest (its shards, sizes and holders) is pushed to every
// member when it is committed and is also part of memberlist's push/pull
// state, so nodes that join later or restart learn it.
//
// Jobs: the node a job is submitted to coordinates it. jobs.go takes the
// submission; jobdriver.go carries out the decisions of the job core
// (engine/coord) on the cluster: map tasks run on live holders of their
// shard, reduce tasks on the least busy members; each attempt is an HTTP
// call to the node that runs it (tasks.go), which fetches the module by
// hash once and runs the task in its worker processes. Map output stays
// on the mapper's disk; a reducer pulls its partition from each mapper
// (shuffle.go: s2-compressed across networks, plain on loopback) and
// merges. A fetch failure names the lost map outputs, which the
// coordinator re-runs elsewhere; an attempt whose node leaves the cluster
// is cancelled and retried. The output dataset is committed only when
// every reduce succeeded. jobstatus.go answers status, lists, logs and
// cancels from any node.
//
// A job outlives its coordinator (jobrecords.go): its record is on every
// node alive at submit (its holders). When the coordinator dies, the live
// holder with the lowest name takes the job over at the next epoch, but
// only once a majority of the holders hold that epoch; and a coordinator
// publishes the output only if enough holders still hold its own epoch
// that no successor can have a majority. So the two sides of a partition
// never both publish a job, and a record's newest epoch wins everywhere
// once the partition heals (records are shared when a member comes back).
//
// Tenants and security (auth.go, tenants.go, security.go, pki.go,
// keyring.go, fairshare.go): every public call is authenticated by a
// token from the tenants file and sees only its tenant's namespace
// (datasets are keyed TENANT/NAME on disk and in the catalog; another
// tenant's names answer 404 like missing ones); /v1/internal/ is for
// nodes only, proven by a certificate from the cluster CA over mutual
// TLS; gossip is encrypted with memberlist's keyring. Each node admits
// tasks to its slots by fair share between tenants, within their quotas,
// and writes an audit log.
//
// Repair (repair.go): the live member with the lowest name copies shards
// whose holders stayed dead past a grace period to new holders.
package nodes
