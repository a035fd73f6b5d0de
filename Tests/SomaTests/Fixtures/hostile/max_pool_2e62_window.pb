
:
xPlaceholder*
dtype0*
shape:
j
poolMaxPoolx*
T0*#
ksize
€€€€€€€€@€€€€€€€€@*
strides

*
paddingSAME