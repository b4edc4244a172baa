#!/usr/bin/env python3
"""Compare two sets of `benches/run` results, figure by figure: each side's runs, their
medians, the ratio, and whether the second side is worse beyond noise (its best run worse
than the first side's worst, by more than the larger spread of the two sides).

    benches/compare.py DIR_A DIR_B     # each DIR holds the .json files of one side's runs

Baselines measured in the same runs (ssh -tt, bash -c) are listed last: they show how much
the machine itself moved between the runs.
"""
import glob
import json
import statistics as st
import sys
def load(d):
    out=[]
    for f in sorted(glob.glob(f'{d}/*.json')):
        out.append(json.load(open(f))['results'])
    return out
def g(r, path):
    x=r
    for k in (path if isinstance(path, tuple) else path.split('/')):
        if isinstance(x,list): x=x[int(k)]
        else: x=x.get(k) if isinstance(x,dict) else None
        if x is None: return None
    return x
FIG=[("cell `true`, SSH (ms)","cell_true_ssh/median",-1),
     ("cell `true`, SSH, back to back (ms)","cell_true_ssh_back_to_back/median",-1),
     ("cell `true`, local (ms)","cell_true_local/median",-1),
     ("`%login h1-ops` (ms)","login/median",-1),
     ("start to kernel_info_reply (ms)","start/median",-1),
     ("`seq 1 200000`, SSH, to idle (ms)","seq_ssh/elapsed/median",-1),
     ("`seq 1 200000`, local, to idle (ms)","seq_local/elapsed/median",-1),
     ("100 MB cell, SSH, to idle (s)","big_ssh/elapsed/median",-1),
     ("100 MB cell, local, to idle (s)","big_local/elapsed/median",-1),
     ("100 MB cell, SSH, peak RSS (KiB)","big_ssh/runs/0/hwm_after_kib",-1),
     ("100 MB cell, local, peak RSS (KiB)","big_local/runs/0/hwm_after_kib",-1),
     ("completion `sys`, SSH (ms)","complete_command_ssh/median",-1),
     ("completion `/us`, SSH (ms)","complete_path_ssh/median",-1),
     ("completion `sys`, local (ms)","complete_command_local/median",-1),
     ("completion `/us`, local (ms)","complete_path_local/median",-1),
     ("idle RSS, SSH (KiB)","idle_rss_ssh_kib",-1),
     ("idle RSS, local (KiB)","idle_rss_local_kib",-1),
     ("renderer, mixed corpus (MB/s)",("terminal_benches","tables","throughput","all","render MB/s"),1),
     ("renderer + detector, recordings (MB/s)",("terminal_benches","tables","prompts","recordings","+detect MB/s"),1),
     # baselines, measured in the same runs (no code of ours): the machine's own noise
     ("baseline `ssh -tt` over ControlMaster (ms)","ssh_tt_true/median",-1),
     ("baseline `bash -c true` (ms)","bash_c_true/median",-1),
]
A_DIR, B_DIR = sys.argv[1], sys.argv[2]
B,R=load(A_DIR),load(B_DIR)
print(f"| figure | {A_DIR} ({len(B)} runs) | {B_DIR} ({len(R)} runs) | median ratio | worse beyond noise? |")
print("|---|---|---|---|---|")
for name,path,better in FIG:
    b=[g(r,path) for r in B]; r_=[g(r,path) for r in R]
    b=[x for x in b if x is not None]; r_=[x for x in r_ if x is not None]
    if not b or not r_: print(f"| {name} | {b} | {r_} | — | — |"); continue
    mb,mr=st.median(b),st.median(r_)
    fmt=lambda v: f"{v:.1f}" if v>=10 else f"{v:.2f}"
    # worse beyond noise: the branch's best run is worse than main's worst run, and the
    # medians differ by more than the larger of the two spreads
    spread=max(max(b)-min(b), max(r_)-min(r_))
    if better<0: worse = min(r_)>max(b) and (mr-mb)>spread
    else: worse = max(r_)<min(b) and (mb-mr)>spread
    print(f"| {name} | {' / '.join(fmt(x) for x in b)} (median {fmt(mb)}) | {' / '.join(fmt(x) for x in r_)} (median {fmt(mr)}) | {mr/mb:.2f}× | {'**yes**' if worse else 'no'} |")
