set terminal pngcairo size 800,480 font 'sans,10'
set output "fig-jitter.png"
set title "Max wake-up delay, before/after RT priority"
set grid
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set key top right
set xtics rotate by -20
set ylabel "ms"
set logscale y
plot "fig-jitter.dat" using 2:3:4:xtic(1) title 'ours (median, min–max)', '' using 5:5:5 title 'paper'
