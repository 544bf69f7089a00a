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
// Work in progress (issue 3): running jobs across nodes, the shuffle, and
// re-replication are not built yet.
package nodes
