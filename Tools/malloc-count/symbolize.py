import re, subprocess, sys
trace, binary = sys.argv[1], sys.argv[2]
allocs, cur = [], None
for line in open(trace):
    if line.startswith('--- allocation'):
        cur = []; allocs.append(cur)
    elif cur is not None and 'graphtool(+0x' in line:
        cur.append(re.search(r'\+(0x[0-9a-f]+)', line).group(1))
addrs = sorted({a for c in allocs for a in c[:7]})
out = subprocess.run(['addr2line', '-f', '-e', binary] + addrs, capture_output=True, text=True).stdout.splitlines()[0::2]
dem = subprocess.run(['swift', 'demangle', '--simplified'], input='\n'.join(out), capture_output=True, text=True).stdout.splitlines()
names = {a: re.sub(r'\(.*', '', d)[:70] for a, d in zip(addrs, dem)}
for c in allocs:
    print(' <- '.join(names[a] for a in c[:7]))
